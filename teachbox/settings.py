"""Every setting, read once from ``TEACHBOX_*`` environment variables.

Defaults describe local mode: a folder under ``./var``, handlers called in-process, a
local trainer process. AWS mode is chosen by pointing ``TEACHBOX_STORAGE`` at S3 and
``TEACHBOX_INVOKER`` at Lambda.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Settings", "SettingsError", "load_settings", "describe_settings"]

PREFIX = "TEACHBOX_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it and the fix."""


def _doc(default: Any, help_text: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass(frozen=True)
class Settings:
    """Typed settings. Field ``foo_bar`` is read from ``TEACHBOX_FOO_BAR``."""

    storage: str = _doc("file://./var/data", "Where everything is stored: file://DIR or s3://BUCKET/PREFIX.")
    cache_dir: str = _doc("./var/cache", "Local folder for exported backbones and cached features.")
    secret_key: str = _doc("", "Flask session signing key. Empty: a random key per start (dev only).")
    invoker: str = _doc("local", "How the web app reaches preprocess/inference: local or lambda.")
    host: str = _doc("127.0.0.1", "Address the web app listens on.")
    port: int = _doc(8000, "Port the web app listens on.")
    proxy_hops: int = _doc(
        0, "Reverse proxies in front of the web app whose X-Forwarded-For/-Proto are trusted (0: none)."
    )
    # Dataset limits (DESIGN.md "Limits and splits").
    image_min_classes: int = _doc(2, "Fewest classes in an image project.")
    image_max_classes: int = _doc(10, "Most classes in an image project.")
    image_min_per_class: int = _doc(10, "Fewest images per class.")
    image_max_per_class: int = _doc(100, "Most images per class.")
    image_max_bytes: int = _doc(15 * 1024 * 1024, "Largest image file accepted, in bytes.")
    image_max_pixels: int = _doc(50_000_000, "Largest decoded image (width x height); larger is a bomb.")
    image_store_side: int = _doc(320, "Stored images are shrunk so the short side is at most this.")
    text_min_classes: int = _doc(2, "Fewest classes in a text project.")
    text_max_classes: int = _doc(3, "Most classes in a text project.")
    text_min_per_class: int = _doc(100, "Fewest text samples per class.")
    text_max_per_class: int = _doc(1000, "Most text samples per class.")
    text_max_chars: int = _doc(5000, "Longest text sample, in characters.")
    text_max_file_bytes: int = _doc(5 * 1024 * 1024, "Largest CSV/text file accepted, in bytes.")
    text_val_fraction: float = _doc(0.3, "Share of text samples held out for validation.")
    image_val_fraction_small: float = _doc(0.2, "Validation share with the fewest images per class.")
    image_val_fraction_large: float = _doc(0.3, "Validation share with the most images per class.")
    max_upload_bytes: int = _doc(
        1200 * 1024 * 1024, "Largest whole upload request, in bytes (refused with 413 before reading)."
    )
    max_form_parts: int = _doc(1200, "Most multipart parts in one upload (10 x 100 images is ~1015).")
    # Trainer.
    trainer_poll_seconds: float = _doc(1.0, "How often an idle trainer looks for new jobs.")
    heartbeat_seconds: float = _doc(3.0, "How often a training job writes its heartbeat.")
    lease_seconds: float = _doc(30.0, "A claim whose heartbeat is older than this is stale.")
    max_attempts: int = _doc(3, "A job failing this many times is marked failed.")
    trainer_idle_stop_seconds: float = _doc(
        900.0, "AWS mode: an idle trainer stops its EC2 instance after this long (0: never)."
    )
    onnx_threads: int = _doc(1, "onnxruntime intra-op threads for backbone passes (measured).")
    # Inference.
    infer_cache_mb: int = _doc(256, "Memory for loaded models per serving process (LRU beyond it), MiB.")
    infer_refresh_seconds: float = _doc(
        2.0, "How often serving re-reads which model version is promoted (0: every request)."
    )
    # AWS names (AWS mode only).
    aws_region: str = _doc("us-east-1", "AWS region.")
    s3_endpoint_url: str = _doc("", "Custom S3 endpoint (tests against moto's server).")
    preprocess_function: str = _doc("teachbox-preprocess", "Name of the preprocess Lambda.")
    infer_function: str = _doc("teachbox-infer", "Name of the inference Lambda.")
    trainer_instance_id: str = _doc("", "EC2 instance the preprocess step starts (AWS mode).")

    @property
    def is_aws(self) -> bool:
        return self.storage.startswith("s3://")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _convert(name: str, raw: str, kind: type) -> Any:
    env = PREFIX + name.upper()
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        return raw
    except ValueError:
        raise SettingsError(
            f"{env}={raw!r} is not a valid {kind.__name__}; set it to a number or unset it."
        ) from None


def _validate(settings: Settings) -> None:
    if not (settings.storage.startswith("file://") or settings.storage.startswith("s3://")):
        raise SettingsError(
            f"TEACHBOX_STORAGE={settings.storage!r} must start with file:// or s3://."
        )
    if settings.invoker not in ("local", "lambda"):
        raise SettingsError(f"TEACHBOX_INVOKER={settings.invoker!r}: use 'local' or 'lambda'.")
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, int | float) and value < 0:
            raise SettingsError(f"{PREFIX}{f.name.upper()}={value} must not be negative.")
    if settings.image_min_per_class > settings.image_max_per_class:
        raise SettingsError("TEACHBOX_IMAGE_MIN_PER_CLASS is larger than TEACHBOX_IMAGE_MAX_PER_CLASS.")
    if settings.text_min_per_class > settings.text_max_per_class:
        raise SettingsError("TEACHBOX_TEXT_MIN_PER_CLASS is larger than TEACHBOX_TEXT_MAX_PER_CLASS.")
    if not 0 < settings.text_val_fraction < 1:
        raise SettingsError("TEACHBOX_TEXT_VAL_FRACTION must be between 0 and 1.")


def load_settings(
    env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read settings from ``env`` (default ``os.environ``), then apply ``overrides``.

    Raises:
        SettingsError: a value has the wrong type or is out of range; the message names it.
    """
    env = os.environ if env is None else env
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):].lower()
        if name not in known:
            continue
        values[name] = _convert(name, raw, type(known[name].default))
    unknown = set(overrides) - set(known)
    if unknown:
        raise SettingsError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    values.update(overrides)
    settings = Settings(**values)
    _validate(settings)
    return settings


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, for the README and ``teachbox settings``."""
    return [
        (PREFIX + f.name.upper(), repr(f.default), f.metadata["help"]) for f in fields(Settings)
    ]
