"""Fixtures of the preprocess tests: uploads staged the way the web app stages them."""

from __future__ import annotations

import pytest

from teachbox.storage import Storage
from tests.preprocess.corpus import StagedUpload


@pytest.fixture
def new_upload(storage: Storage):
    def make(kind: str, class_names: list[str], **fields) -> StagedUpload:
        upload = StagedUpload(storage, kind, class_names, **fields)
        upload.mark_validating()
        return upload
    return make
