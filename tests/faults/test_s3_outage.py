"""S3 itself going away mid-run (moto's server stopped, then started again on the same
port): preprocess and training end in a state a retry completes, and nothing half-written
becomes visible."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from moto.server import ThreadedMotoServer

from lambda_preprocess import handle
from teachbox.bundles import current_version, list_versions
from teachbox.jobs import get_job, list_jobs
from teachbox.projects import list_projects
from teachbox.settings import Settings
from teachbox.storage import S3Storage, new_id
from teachbox.uploads import get_upload_status
from tests.faults.storage_faults import InterceptedStorage
from tests.preprocess.corpus import StagedUpload
from tests.trainer.conftest import shapes, submit, write_image_dataset
from trainer.worker import Worker


class S3Outage:
    """A moto S3 server of our own that a test can take down and bring back; moto keeps the
    buckets in process memory, so they survive the restart as S3's would."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def storage(self, bucket: str) -> S3Storage:
        # One attempt and short timeouts: an outage is seen at once, not after minutes of retries.
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                              config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                            connect_timeout=1, read_timeout=5))
        return S3Storage(bucket, "tb", client=client)


@pytest.fixture
def outage() -> Iterator[S3Outage]:
    outage = S3Outage()
    outage.start()
    yield outage
    outage.stop()


@pytest.fixture
def s3(outage: S3Outage) -> S3Storage:
    storage = outage.storage(f"teachbox-{new_id()[:12]}")
    storage.client.create_bucket(Bucket=storage.bucket)
    return storage


def _goes_down_before(outage: S3Outage, storage: S3Storage, suffix: str) -> InterceptedStorage:
    def before_put(key: str) -> None:
        if key.endswith(suffix):
            outage.stop()

    return InterceptedStorage(storage, before_put)


def test_preprocess_cut_off_by_an_outage_shows_nothing_and_the_lambda_retry_completes_it(
    outage: S3Outage, s3: S3Storage, settings: Settings
) -> None:
    upload = StagedUpload(s3, "image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, 50)
    upload.mark_validating()

    first = handle(upload.payload(), _goes_down_before(outage, s3, "/manifest.json"), settings)
    outage.start()

    assert first["ok"] is False and first["status"] == 500
    # Samples without a manifest are no dataset: nothing reads them, no job, no project.
    assert all("/samples/" in key for key in s3.list("projects/"))
    assert list_jobs(s3) == [] and list_projects(s3, "alice") == []
    # The outcome could not be recorded either, so the page still says "validating" ...
    assert get_upload_status(s3, upload.upload_id).state == "validating"

    # ... and the invocation's automatic retry (async Lambda, one retry) finishes the upload.
    second = handle(upload.payload(), s3, settings)

    assert second["ok"] is True
    assert get_upload_status(s3, upload.upload_id).state == "queued"
    assert [job.job_id for job in list_jobs(s3)] == [second["job_id"]]


@pytest.mark.slow
def test_a_trainer_cut_off_by_an_outage_exits_and_its_restart_finishes_the_job(
    outage: S3Outage, s3: S3Storage, trainer_settings: Settings
) -> None:
    settings = trainer_settings.replace(lease_seconds=1.0, heartbeat_seconds=0.2)
    manifest = write_image_dataset(s3, shapes(10, seed=71, classes=("circle", "square")))
    job = submit(s3, manifest)

    # Under systemd (Restart=on-failure) a trainer that cannot reach storage exits and is restarted.
    with pytest.raises(EndpointConnectionError):
        Worker(_goes_down_before(outage, s3, "/model.json"), settings, export=False).work(max_jobs=1)
    outage.start()

    assert current_version(s3, manifest.project_id) is None
    assert list_versions(s3, manifest.project_id) == []  # the half-written version is not listed

    Worker(s3, settings, export=False).work(max_jobs=1, max_idle_time=30)

    finished = get_job(s3, job.job_id)
    assert finished.state == "succeeded"
    assert [m.version for m in list_versions(s3, manifest.project_id)] == [finished.model_version]
    assert current_version(s3, manifest.project_id) == finished.model_version
