"""Upload status: what the Train page polls while preprocess validates an upload.

The web app writes ``validating`` before it hands the staged files to preprocess;
preprocess ends it as ``queued`` (with the job id) or ``rejected`` (with every problem).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from teachbox.errors import NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage

__all__ = [
    "UploadState",
    "UploadStatus",
    "staging_prefix",
    "write_upload_status",
    "get_upload_status",
]


class UploadState(StrEnum):
    VALIDATING = "validating"
    QUEUED = "queued"
    REJECTED = "rejected"
    ERROR = "error"  # preprocess itself failed (storage down); the user may retry


@dataclass
class UploadStatus:
    upload_id: str
    project_id: str
    owner: str
    state: str
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    message: str = ""
    problems: list[dict] = field(default_factory=list)  # Problem.to_dict() each
    progress: dict = field(default_factory=dict)  # {"done": n, "total": m}
    job_id: str = ""
    dataset_id: str = ""
    notes: list[str] = field(default_factory=list)


def staging_prefix(upload_id: str) -> str:
    return f"staging/{upload_id}/"


def _key(upload_id: str) -> str:
    return f"uploads/{upload_id}.json"


def write_upload_status(storage: Storage, status: UploadStatus) -> None:
    status.updated = now()
    storage.put_json(_key(status.upload_id), asdict(status))


def get_upload_status(storage: Storage, upload_id: str) -> UploadStatus:
    try:
        return from_dict(UploadStatus, storage.get_json(_key(upload_id)))
    except (ObjectNotFound, ValueError):
        raise NotFound("No such upload.") from None
