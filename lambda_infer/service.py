"""``predict``: the core of inference, and ``handle``: the direct-invocation entry around it.

The web app calls ``handle`` in-process (local mode) or through the Lambda (AWS mode); the
Lambda handler and ``teachbox predict`` call ``predict``. All share one process-wide
``ModelCache`` so a model is loaded once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np

from lambda_infer.cache import ModelCache
from lambda_infer.events import UNREADABLE_IMAGE, check_inputs, parse_payload
from teachbox.errors import BadRequest
from teachbox.featurizers import load_image_array
from teachbox.settings import Settings
from teachbox.storage import Storage

__all__ = ["predict", "handle", "default_cache"]

_logger = logging.getLogger(__name__)

_default_cache: ModelCache | None = None
_default_cache_lock = threading.Lock()


def default_cache(settings: Settings) -> ModelCache:
    """This process's model cache, built on first use from the first caller's settings."""
    global _default_cache
    with _default_cache_lock:
        if _default_cache is None:
            _default_cache = ModelCache(
                settings.cache_dir,
                budget_bytes=settings.infer_cache_mb * 1024 * 1024,
                refresh_seconds=settings.infer_refresh_seconds,
                threads=settings.onnx_threads,
            )
        return _default_cache


def _first_unreadable(inputs: Sequence[bytes]) -> int:
    """Number (from 1) of the first image that cannot be decoded; the error path only."""
    for number, data in enumerate(inputs, start=1):
        try:
            load_image_array(data)
        except ValueError:
            return number
    return 0


def _wrong_kind(project_kind: str) -> BadRequest:
    if project_kind == "image":
        return BadRequest("This project classifies images; send images (image_b64 or files), not text.")
    return BadRequest("This project classifies text; send texts, not images.")


def predict(
    project_id: str,
    inputs: Sequence[bytes] | Sequence[str],
    storage: Storage,
    settings: Settings,
    *,
    top_k: int = 3,
    version: str | None = None,
    cache: ModelCache | None = None,
) -> dict:
    """Classify ``inputs`` (image bytes, or texts) with the project's current model, or
    ``version``; return the top ``top_k`` labels of each with their probabilities.

    Raises:
        BadRequest: an input is unreadable, empty, or of the wrong kind for the project.
        PayloadTooLarge: too many inputs, or one over its size limit.
        NotFound: no such project, no trained model yet, or no such version.
    """
    started = time.perf_counter()
    kind = check_inputs(inputs, settings)
    model = (cache or default_cache(settings)).get(storage, project_id, version)
    if kind != model.meta.kind:
        raise _wrong_kind(model.meta.kind)
    try:
        probabilities = model.predict_proba(list(inputs))
    except ValueError:
        number = _first_unreadable(inputs) if kind == "image" else 0
        if not number:
            raise
        raise BadRequest(UNREADABLE_IMAGE.format(n=number)) from None
    names = model.meta.class_names
    k = min(top_k, len(names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    predictions = []
    for row, best in zip(probabilities, order, strict=True):
        top = [{"label": names[i], "probability": float(row[i])} for i in best]
        predictions.append({"label": top[0]["label"], "confidence": top[0]["probability"], "top": top})
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    _logger.debug("project %s %s answered %d input(s) in %.1f ms", project_id, model.meta.version,
                  len(predictions), elapsed_ms)
    return {
        "ok": True,
        "project_id": project_id,
        "version": model.meta.version,
        "kind": model.meta.kind,
        "predictions": predictions,
        "elapsed_ms": elapsed_ms,
    }


def handle(payload: dict, storage: Storage, settings: Settings) -> dict:
    """A direct invocation: ``{"project_id", "inputs": [{"image_b64"} | {"text"}], "top_k"?,
    "version"?}``. Raises TeachboxError subclasses; the caller maps them to a response."""
    request = parse_payload(payload, settings)
    return predict(request.project_id, request.inputs, storage, settings,
                   top_k=request.top_k, version=request.version)
