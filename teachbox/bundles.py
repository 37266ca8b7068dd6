"""Model bundles: one immutable folder per version, ``model.json`` written last.

    projects/<project_id>/models/<version>/model.json   ModelMeta (the resolved config)
    projects/<project_id>/models/<version>/<files>      head weights, vocabularies, exports
    projects/<project_id>/versions/<version>.json       reservation of a version name
    projects/<project_id>/current.json                  the promoted version
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from teachbox.errors import NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage

__all__ = [
    "MODEL_FORMAT_VERSION",
    "ModelMeta",
    "bundle_key",
    "reserve_version",
    "write_bundle",
    "load_model_meta",
    "load_bundle_file",
    "list_versions",
    "promote_model",
    "current_version",
]

MODEL_FORMAT_VERSION = 1
_VERSION = re.compile(r"^v(\d+)$")


@dataclass
class ModelMeta:
    """What a bundle is and how to use it: serving reads nothing else."""

    version: str
    project_id: str
    kind: str
    class_names: list[str]
    featurizer: dict  # Featurizer.describe(): name, version, dim, input size, scaling
    head: dict  # architecture of the trained head and its weight file names
    dataset_id: str
    job_id: str = ""
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    created: float = field(default_factory=now)
    format_version: int = MODEL_FORMAT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


def _models_prefix(project_id: str) -> str:
    return f"projects/{project_id}/models/"


def bundle_key(project_id: str, version: str, name: str) -> str:
    return f"{_models_prefix(project_id)}{version}/{name}"


def _version_number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else 0


def reserve_version(storage: Storage, project_id: str, job_id: str = "") -> str:
    """Reserve the next free version name (v1, v2, ...) atomically."""
    taken = [
        _version_number(k.rsplit("/", 1)[1].removesuffix(".json"))
        for k in storage.list(f"projects/{project_id}/versions/")
    ]
    number = max(taken, default=0) + 1
    while not storage.create_json_if_absent(
        f"projects/{project_id}/versions/v{number}.json", {"job_id": job_id, "created": now()}
    ):
        number += 1
    return f"v{number}"


def write_bundle(storage: Storage, meta: ModelMeta, files: dict[str, bytes]) -> None:
    """Write the files, then ``model.json``: a bundle without model.json is incomplete
    and invisible to ``list_versions``."""
    for name, data in files.items():
        storage.put(bundle_key(meta.project_id, meta.version, name), data)
    meta.files = sorted(files)
    storage.put_json(bundle_key(meta.project_id, meta.version, "model.json"), meta.to_dict())


def load_model_meta(storage: Storage, project_id: str, version: str) -> ModelMeta:
    if not _VERSION.match(version or ""):
        raise NotFound(f"No model version {version!r}.")
    try:
        data = storage.get_json(bundle_key(project_id, version, "model.json"))
    except ObjectNotFound:
        raise NotFound(f"No model version {version!r} in this project.") from None
    if data.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise NotFound(
            f"Model {version} was written by a newer Teachbox (format "
            f"{data['format_version']}); upgrade Teachbox to use it."
        )
    return from_dict(ModelMeta, data)


def load_bundle_file(storage: Storage, meta: ModelMeta, name: str) -> bytes:
    return storage.get(bundle_key(meta.project_id, meta.version, name))


def list_versions(storage: Storage, project_id: str) -> list[ModelMeta]:
    """Complete versions, oldest first."""
    metas = []
    for key in storage.list(_models_prefix(project_id)):
        if key.endswith("/model.json"):
            version = key.split("/")[-2]
            metas.append(load_model_meta(storage, project_id, version))
    return sorted(metas, key=lambda m: _version_number(m.version))


def promote_model(storage: Storage, project_id: str, version: str) -> None:
    """Point ``current.json`` at ``version``; the one object overwritten in place."""
    load_model_meta(storage, project_id, version)  # refuse to promote what does not exist
    storage.put_json(
        f"projects/{project_id}/current.json", {"version": version, "promoted": now()}
    )


def current_version(storage: Storage, project_id: str) -> str | None:
    try:
        return storage.get_json(f"projects/{project_id}/current.json")["version"]
    except ObjectNotFound:
        return None
