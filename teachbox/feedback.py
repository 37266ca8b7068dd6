"""Pending examples: inputs a person marked right, or corrected, on the Inference page, kept
for the project's next training (the Lobe-style feedback loop).

Keys:

    projects/<id>/pending/<class_index>/<sha256>.<ext>   a normalized image, or a text (UTF-8)
    projects/<id>/pending-retrain.json                   the retrain upload that took them in
    projects/<id>/pending-classes.json                   the class names the indices above mean

When the project's classes change (renamed, added, reordered through "Add examples"), pending
examples follow their class by name, as preprocess maps earlier examples; those of a class that
was removed are dropped with it.

A retrain copies the pending examples into an upload's staging prefix and records which keys
it took (``stage_pending``). They are deleted only once that upload is queued
(``settle_retrain``): if preprocess rejects the upload, they stay pending, so nothing is lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from teachbox.datasets import sha256_hex
from teachbox.errors import BadRequest, NotFound
from teachbox.ingest import ImageRejected, normalize_image, normalize_text
from teachbox.invoker import Invoker
from teachbox.projects import Project
from teachbox.settings import Settings
from teachbox.storage import ObjectNotFound, Storage
from teachbox.uploads import UploadState, UploadStatus, get_upload_status, staging_prefix, write_upload_status

__all__ = [
    "PendingExample",
    "StagedPending",
    "add_pending",
    "list_pending",
    "pending_counts",
    "read_pending",
    "remove_pending",
    "stage_pending",
    "start_pending_retrain",
    "retrain_upload_in_progress",
    "settle_retrain",
]

_logger = logging.getLogger(__name__)

_KEY = re.compile(r"projects/[0-9a-f]{16}/pending/(\d+)/([0-9a-f]{64})\.(jpg|txt)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PendingExample:
    class_index: int
    sha256: str
    ext: str  # "jpg" for images, "txt" for texts
    key: str
    text: str = ""  # the example itself, for text projects


@dataclass(frozen=True)
class StagedPending:
    """What a retrain upload hands preprocess: staged image files, pasted text per class."""

    files: list[dict] = field(default_factory=list)
    pasted: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)


def _prefix(project_id: str) -> str:
    return f"projects/{project_id}/pending/"


def _key(project_id: str, class_index: int, sha256: str, ext: str) -> str:
    return f"{_prefix(project_id)}{class_index}/{sha256}.{ext}"


def _retrain_key(project_id: str) -> str:
    return f"projects/{project_id}/pending-retrain.json"


def _classes_key(project_id: str) -> str:
    return f"projects/{project_id}/pending-classes.json"


def _check_class(project: Project, class_index: int) -> None:
    if not 0 <= class_index < len(project.class_names):
        raise BadRequest(
            f"This project has no class number {class_index + 1}; choose one of "
            f"{', '.join(repr(n) for n in project.class_names)}."
        )


def _parse(key: str, storage: Storage, kind: str) -> PendingExample | None:
    match = _KEY.fullmatch(key)
    if not match:
        return None
    text = storage.get(key).decode("utf-8") if kind == "text" else ""
    return PendingExample(class_index=int(match[1]), sha256=match[2], ext=match[3], key=key, text=text)


def _listed(storage: Storage, project: Project) -> list[PendingExample]:
    examples = []
    for key in storage.list(_prefix(project.id)):
        try:
            example = _parse(key, storage, project.kind)
        except ObjectNotFound:
            continue  # removed while we listed
        if example is not None:
            examples.append(example)
    return examples


def _follow_class_names(storage: Storage, project: Project) -> None:
    """Move pending examples to their class's current index if the classes changed."""
    try:
        recorded = list(storage.get_json(_classes_key(project.id)))
    except ObjectNotFound:
        return
    if recorded == project.class_names:
        return
    index_of = {name.casefold(): i for i, name in enumerate(project.class_names)}
    for example in _listed(storage, project):
        name = recorded[example.class_index] if example.class_index < len(recorded) else ""
        target = index_of.get(name.casefold())
        if target == example.class_index:
            continue
        if target is not None:
            # Copied before the old key goes: a crash in between leaves a duplicate, not a loss.
            storage.put(_key(project.id, target, example.sha256, example.ext), storage.get(example.key))
        else:
            _logger.info("project %s: class %r was removed; dropping its pending example %s",
                         project.id, name, example.sha256[:12])
        storage.delete(example.key)
    storage.put_json(_classes_key(project.id), project.class_names)


def add_pending(storage: Storage, settings: Settings, project: Project, class_index: int, *,
                image: bytes | None = None, text: str | None = None) -> PendingExample:
    """Keep one input as a pending example of ``class_index``.

    An image goes through the same normalization as an uploaded one; a text is normalized as
    an uploaded row. The same input marked again moves to the latest class given.

    Raises:
        BadRequest: no such class, the input is unusable (the sentence says why and what to
            do), or the class already has as many pending examples as a class may hold.
    """
    _check_class(project, class_index)
    if project.kind == "image":
        try:
            normalized = normalize_image(image or b"", max_bytes=settings.image_max_bytes,
                                         max_pixels=settings.image_max_pixels,
                                         store_side=settings.image_store_side)
        except ImageRejected as error:
            raise BadRequest(
                f"This image cannot be added as an example: {error.reason}. {error.fix}") from None
        data, sha256, ext = normalized.data, normalized.sha256, "jpg"
    else:
        cleaned = normalize_text(text or "")
        if not cleaned:
            raise BadRequest("There is no text to add; type some text and predict it first.")
        if len(cleaned) > settings.text_max_chars:
            raise BadRequest(f"This text cannot be added as an example: it is {len(cleaned)} characters "
                             f"long; the limit is {settings.text_max_chars}. Shorten it.")
        data = cleaned.encode("utf-8")
        sha256, ext = sha256_hex(data), "txt"
    _follow_class_names(storage, project)
    existing = _listed(storage, project)
    limit = settings.image_max_per_class if project.kind == "image" else settings.text_max_per_class
    in_class = [e for e in existing if e.class_index == class_index and e.sha256 != sha256]
    if len(in_class) >= limit:
        raise BadRequest(
            f"Class {project.class_names[class_index]!r} already has {len(in_class)} pending examples, "
            f"the most a class may hold; retrain or remove some first."
        )
    example = PendingExample(class_index=class_index, sha256=sha256, ext=ext,
                             key=_key(project.id, class_index, sha256, ext),
                             text=data.decode("utf-8") if ext == "txt" else "")
    storage.put_json(_classes_key(project.id), project.class_names)
    storage.put(example.key, data)
    # One input belongs to one class: a later correction replaces an earlier mark.
    for other in existing:
        if other.sha256 == sha256 and other.class_index != class_index:
            storage.delete(other.key)
    _logger.info("project %s: pending example %s in class %d", project.id, sha256[:12], class_index)
    return example


def list_pending(storage: Storage, project: Project) -> list[PendingExample]:
    """The project's pending examples by class, after settling a finished retrain."""
    settle_retrain(storage, project.id)
    _follow_class_names(storage, project)
    return sorted(_listed(storage, project), key=lambda e: (e.class_index, e.sha256))


def pending_counts(examples: list[PendingExample], project: Project) -> dict[str, int]:
    """Pending examples per class name, every class listed."""
    counts = dict.fromkeys(project.class_names, 0)
    for example in examples:
        if example.class_index < len(project.class_names):
            counts[project.class_names[example.class_index]] += 1
    return counts


def _find(storage: Storage, project: Project, class_index: int, sha256: str) -> PendingExample:
    if _SHA256.fullmatch(sha256 or ""):
        for ext in ("jpg", "txt"):
            key = _key(project.id, class_index, sha256, ext)
            if storage.exists(key):
                return PendingExample(class_index=class_index, sha256=sha256, ext=ext, key=key)
    raise NotFound("No such pending example.")


def read_pending(storage: Storage, project: Project, class_index: int, sha256: str) -> bytes:
    """The stored bytes of one pending example. Raises NotFound."""
    try:
        return storage.get(_find(storage, project, class_index, sha256).key)
    except ObjectNotFound:
        raise NotFound("No such pending example.") from None


def remove_pending(storage: Storage, project: Project, class_index: int, sha256: str) -> None:
    """Drop one pending example. Raises NotFound."""
    storage.delete(_find(storage, project, class_index, sha256).key)


def retrain_upload_in_progress(storage: Storage, project_id: str) -> str:
    """The id of a retrain upload still being validated with the pending examples, or ''."""
    settle_retrain(storage, project_id)
    try:
        return str(storage.get_json(_retrain_key(project_id)).get("upload_id", ""))
    except ObjectNotFound:
        return ""


def stage_pending(storage: Storage, project: Project, upload_id: str) -> StagedPending:
    """Copy every pending example into ``upload_id``'s staging prefix and record which ones
    that upload takes in, so ``settle_retrain`` removes exactly those once it is queued."""
    examples = list_pending(storage, project)
    staged = StagedPending()
    texts: dict[int, list[str]] = {}
    for example in examples:
        try:
            data = storage.get(example.key)
        except ObjectNotFound:
            continue  # removed meanwhile
        if project.kind == "image":
            key = f"{staging_prefix(upload_id)}pending/c{example.class_index}/{example.sha256}.jpg"
            storage.put(key, data)
            staged.files.append({"class_index": example.class_index, "key": key,
                                 "filename": f"feedback-{example.sha256[:16]}.jpg"})
        else:
            # Normalized texts hold no line breaks, so one per pasted line is exact.
            texts.setdefault(example.class_index, []).append(data.decode("utf-8"))
        staged.keys.append(example.key)
    staged.pasted.update({str(index): "\n".join(lines) for index, lines in sorted(texts.items())})
    storage.put_json(_retrain_key(project.id), {"upload_id": upload_id, "keys": staged.keys})
    return staged


def start_pending_retrain(storage: Storage, invoker: Invoker, project: Project, upload_id: str,
                          base_dataset_id: str, options: dict) -> StagedPending:
    """Hand the pending examples to preprocess as upload ``upload_id`` on top of
    ``base_dataset_id``, exactly like an upload from the Train form (or the API) adding
    examples; they stay pending until that upload is queued."""
    # Written before the examples are staged: settle_retrain reads it to decide their fate.
    write_upload_status(storage, UploadStatus(upload_id=upload_id, project_id=project.id,
                                              owner=project.owner, state=UploadState.VALIDATING.value))
    staged = stage_pending(storage, project, upload_id)
    try:
        invoker.start("preprocess", {
            "upload_id": upload_id, "project_id": project.id, "owner": project.owner,
            "project_name": project.name, "kind": project.kind, "class_names": project.class_names,
            "files": staged.files, "pasted": staged.pasted, "labelled_csv": None,
            "options": {"featurizer": project.featurizer, "augment": bool(options.get("augment"))},
            "base_dataset_id": base_dataset_id,
        })
    except Exception:
        # Not started: nothing will settle it, so the examples must not wait for it.
        storage.delete(_retrain_key(project.id))
        raise
    _logger.info("upload %s: retrain of project %s with %d pending examples", upload_id, project.id,
                 len(staged.keys))
    return staged


def settle_retrain(storage: Storage, project_id: str) -> str:
    """Finish the pending examples' part of a retrain once its upload has an outcome:
    queued, the examples it took are deleted; rejected or failed, they stay pending.
    Returns the upload's state ('' when no retrain was waiting)."""
    try:
        record = storage.get_json(_retrain_key(project_id))
    except ObjectNotFound:
        return ""
    try:
        state = get_upload_status(storage, str(record.get("upload_id", ""))).state
    except NotFound:
        state = UploadState.ERROR.value
    if state == UploadState.VALIDATING:
        return state
    if state == UploadState.QUEUED:
        for key in record.get("keys", []):
            storage.delete(key)
        _logger.info("project %s: %d pending examples are in upload %s", project_id,
                     len(record.get("keys", [])), record.get("upload_id"))
    storage.delete(_retrain_key(project_id))
    return state
