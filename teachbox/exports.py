"""Reading a model version's downloadable exports (the trainer writes them; see trainer/exports.py).

    projects/<project_id>/models/<version>/exports/README.md   written last: the set is complete
    .../exports/model.onnx, model.torchscript.pt, classes.txt, tokenizer.json (text models)

The web page and the API list and stream them through these functions, so both offer the same
files under the same names, and neither can be talked into reading any other key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO

from teachbox.bundles import ModelMeta, bundle_key, load_model_meta
from teachbox.errors import NotFound
from teachbox.storage import ObjectNotFound, Storage

__all__ = ["EXPORT_FILES", "ExportFile", "list_exports", "open_export"]

_logger = logging.getLogger(__name__)

# Every file a download may name, in the order pages list them: name -> (media type, what it is).
EXPORT_FILES: dict[str, tuple[str, str]] = {
    "model.onnx": ("application/octet-stream", "ONNX graph, backbone and head: inputs to probabilities"),
    "model.torchscript.pt": ("application/octet-stream", "TorchScript of the same model, for torch.jit.load"),
    "classes.txt": ("text/plain; charset=utf-8", "class names, one per line, in output order"),
    "tokenizer.json": ("application/json", "the tokenizer that makes the text model's input_ids"),
    "README.md": ("text/markdown; charset=utf-8", "how to load and call each file"),
}
_COMPLETE_MARKER = "README.md"


@dataclass(frozen=True)
class ExportFile:
    name: str
    size: int
    media_type: str
    description: str


def _key(meta: ModelMeta, name: str) -> str:
    return bundle_key(meta.project_id, meta.version, f"exports/{name}")


def list_exports(storage: Storage, project_id: str, version: str) -> list[ExportFile]:
    """The version's export files, or [] while they are missing or still being written.

    Raises NotFound if the project has no such version.
    """
    meta = load_model_meta(storage, project_id, version)
    if not storage.exists(_key(meta, _COMPLETE_MARKER)):
        return []
    files = []
    for name, (media_type, description) in EXPORT_FILES.items():
        try:
            size = storage.size(_key(meta, name))
        except ObjectNotFound:
            continue  # tokenizer.json exists only for text models
        files.append(ExportFile(name=name, size=size, media_type=media_type, description=description))
    return files


def open_export(storage: Storage, project_id: str, version: str, name: str) -> tuple[BinaryIO, ExportFile]:
    """A stream of one export file and what it is; the caller closes the stream.

    Raises NotFound naming what is missing: the version, or the file (with the names there are).
    """
    available = list_exports(storage, project_id, version)
    by_name = {f.name: f for f in available}
    if name not in by_name:
        if not available:
            raise NotFound(f"Model {version} has no exports yet; they are written after training. "
                           "Try again in a minute, or retrain to make them.")
        raise NotFound(f"Model {version} has no export called {name!r}; "
                       f"choose one of: {', '.join(by_name)}.")
    meta = load_model_meta(storage, project_id, version)
    try:
        return storage.open(_key(meta, name)), by_name[name]
    except ObjectNotFound:
        _logger.warning("export %s of %s/%s vanished between list and open", name, project_id, version)
        raise NotFound(f"Model {version} has no export called {name!r} any more.") from None
