"""Storage failing part-way through preprocess and training, on a folder and on S3: the user
sees a clear failure, nothing half-written is visible, and a retry succeeds."""

from __future__ import annotations

import pytest

from lambda_preprocess import handle
from teachbox.bundles import current_version, list_versions
from teachbox.jobs import get_job, list_jobs
from teachbox.projects import list_projects
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import S3Storage, Storage
from teachbox.uploads import get_upload_status
from tests.faults.storage_faults import FailingStorage
from tests.preprocess.corpus import StagedUpload
from tests.trainer.conftest import shapes, submit, write_image_dataset
from trainer.worker import Worker

FAILED = "Preparing the examples failed on our side; nothing was saved. Please upload again."

# (operation, which call, key containing): every write preprocess makes, and a staged read.
PREPROCESS_FAULTS = [
    ("open", 3, "staging/"),
    ("put", 1, "/samples/"),
    ("put", 7, "/samples/"),
    ("put", 1, "/manifest.json"),
    ("put", 1, "/project.json"),
    ("put", 1, "jobs/status/"),
    ("put", 1, "/jobs/"),
    ("put", 1, "jobs/pending/"),
]


def _upload(storage: Storage) -> StagedUpload:
    upload = StagedUpload(storage, "image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, 50)
    upload.mark_validating()
    return upload


def _visible(storage: Storage) -> list[str]:
    """What any reader (web app, trainer, serving) could see, besides upload statuses."""
    return sorted(k for k in storage.list("") if not k.startswith("uploads/"))


@pytest.mark.parametrize(("operation", "nth", "where"), PREPROCESS_FAULTS,
                         ids=[f"{o}-{n}-{w.strip('/')}" for o, n, w in PREPROCESS_FAULTS])
def test_a_storage_failure_in_preprocess_says_so_leaves_nothing_and_a_new_upload_succeeds(
    any_storage: Storage, settings: Settings, operation: str, nth: int, where: str
) -> None:
    upload = _upload(any_storage)
    failing = FailingStorage(any_storage, operation, nth, where)

    result = handle(upload.payload(), failing, settings)

    assert failing.failed, "the fault was never triggered"
    assert (result["ok"], result["message"]) == (False, FAILED)
    status = get_upload_status(any_storage, upload.upload_id)
    assert (status.state, status.message) == ("error", FAILED)
    assert _visible(any_storage) == []
    assert list_jobs(any_storage) == [] and list_projects(any_storage, "alice") == []

    again = _upload(any_storage)
    assert handle(again.payload(), any_storage, settings)["ok"] is True
    assert get_upload_status(any_storage, again.upload_id).state == "queued"
    assert [job.state for job in list_jobs(any_storage)] == ["queued"]


def _every_listed_version_loads(storage: Storage, project_id: str, settings: Settings) -> list[str]:
    versions = [m.version for m in list_versions(storage, project_id)]
    for version in versions:
        load_model(storage, project_id, version, settings.cache_dir)
    return versions


TRAINING_FAULTS = [("get", "/samples/", 62), ("put", "/head.npz", 63), ("put", "/model.json", 64),
                   ("put", "/current.json", 65)]


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "where", "seed"), TRAINING_FAULTS,
                         ids=[f"{o}-{w.strip('/')}" for o, w, _ in TRAINING_FAULTS])
def test_a_storage_failure_in_training_is_retried_and_no_half_model_is_visible(
    any_storage: Storage, trainer_settings: Settings, operation: str, where: str, seed: int
) -> None:
    # A seed per case: features are cached by content, and a cached sample is never read.
    seed += 100 if isinstance(any_storage, S3Storage) else 0
    manifest = write_image_dataset(any_storage, shapes(10, seed=seed, classes=("circle", "square")))
    job = submit(any_storage, manifest)
    failing = FailingStorage(any_storage, operation, 1, where)
    worker = Worker(failing, trainer_settings, export=False)

    worker.work(max_jobs=1)  # the attempt that meets the fault

    failed = get_job(any_storage, job.job_id)
    assert failing.failed and (failed.state, failed.failures) == ("queued", 1)
    assert "it is retried automatically" in failed.error
    assert current_version(any_storage, manifest.project_id) is None
    # A failed publish leaves no listed version; a failed promotion may leave a complete one.
    _every_listed_version_loads(any_storage, manifest.project_id, trainer_settings)

    worker.work(max_jobs=1)  # the retry, on the storage that now works

    finished = get_job(any_storage, job.job_id)
    assert finished.state == "succeeded"
    assert current_version(any_storage, manifest.project_id) == finished.model_version
    assert finished.model_version in _every_listed_version_loads(any_storage, manifest.project_id,
                                                                 trainer_settings)
