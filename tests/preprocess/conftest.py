"""Uploads staged the way the web app stages them, and real files made with Pillow."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from teachbox.storage import Storage, new_id
from teachbox.uploads import UploadState, UploadStatus, staging_prefix, write_upload_status
from tests.preprocess.corpus import drawn_image


@dataclass
class StagedUpload:
    """An upload staged in storage the way the web app stages it, turned into a payload."""

    storage: Storage
    kind: str
    class_names: list[str]
    owner: str = "alice"
    project_name: str = "My project"
    upload_id: str = field(default_factory=new_id)
    project_id: str = field(default_factory=new_id)
    files: list[dict] = field(default_factory=list)
    pasted: dict[str, str] = field(default_factory=dict)
    labelled_csv: dict | None = None
    base_dataset_id: str = ""

    def _stage(self, data: bytes) -> str:
        key = f"{staging_prefix(self.upload_id)}f{len(self.files):04d}.bin"
        self.storage.put(key, data)
        return key

    def add_file(self, class_index: int, filename: str, data: bytes) -> StagedUpload:
        self.files.append({"class_index": class_index, "key": self._stage(data), "filename": filename})
        return self

    def add_images(self, class_index: int, count: int, first_seed: int = 0) -> StagedUpload:
        for n in range(count):
            self.add_file(class_index, f"photo{first_seed + n:03d}.jpg", drawn_image(first_seed + n))
        return self

    def add_labelled_csv(self, filename: str, data: bytes) -> StagedUpload:
        key = f"{staging_prefix(self.upload_id)}labelled.bin"
        self.storage.put(key, data)
        self.labelled_csv = {"key": key, "filename": filename}
        return self

    def payload(self, **options) -> dict:
        return {
            "upload_id": self.upload_id, "project_id": self.project_id, "owner": self.owner,
            "project_name": self.project_name, "kind": self.kind, "class_names": self.class_names,
            "files": self.files, "pasted": self.pasted, "labelled_csv": self.labelled_csv,
            "options": {"featurizer": "", "augment": False, **options},
            "base_dataset_id": self.base_dataset_id or None,
        }

    def mark_validating(self) -> None:
        """What the web app writes before it hands the upload to preprocess."""
        write_upload_status(self.storage, UploadStatus(
            upload_id=self.upload_id, project_id=self.project_id, owner=self.owner,
            state=UploadState.VALIDATING.value))


@pytest.fixture
def new_upload(storage: Storage):
    def make(kind: str, class_names: list[str], **fields) -> StagedUpload:
        upload = StagedUpload(storage, kind, class_names, **fields)
        upload.mark_validating()
        return upload
    return make
