"""The trainer daemon's ways out of a job: failures, signals, crashes, races, idling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from teachbox.bundles import current_version, list_versions
from teachbox.datasets import DatasetManifest, sample_key, write_manifest
from teachbox.jobs import claim_next_job, get_job, list_trainers, request_cancel
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import LocalStorage, Storage
from tests.trainer.conftest import shapes, submit, write_image_dataset
from trainer.worker import JobHeartbeat, Worker


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll storage-backed state: storage offers no change notifications to wait on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def start_trainer(settings: Settings, log: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "TEACHBOX_STORAGE": settings.storage, "TEACHBOX_CACHE_DIR": settings.cache_dir,
           "TEACHBOX_LEASE_SECONDS": str(settings.lease_seconds),
           "TEACHBOX_HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
           "TEACHBOX_TRAINER_POLL_SECONDS": str(settings.trainer_poll_seconds)}
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "teachbox.cli", "trainer", *args], env=env,
                                stdout=output, stderr=subprocess.STDOUT)


def _in_phase(storage: Storage, job_id: str, phase: str) -> Callable[[], bool]:
    return lambda: get_job(storage, job_id).progress.get("phase") == phase


def _train_first_version(storage: Storage, worker: Worker, project_id: str) -> str:
    first = write_image_dataset(storage, shapes(10, seed=21, classes=("circle", "square")), project_id)
    submit(storage, first)
    worker.work(burst=True)
    version = current_version(storage, project_id)
    assert version == "v1"
    return version


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_corrupt_dataset_fails_with_a_readable_reason_and_keeps_the_current_model(
    storage: LocalStorage, worker: Worker, damage: str
) -> None:
    _train_first_version(storage, worker, "proj-corrupt")
    manifest = write_image_dataset(storage, shapes(10, seed=22 if damage == "deleted" else 23,
                                                   classes=("circle", "square")), "proj-corrupt")
    victim = manifest.samples[3]
    key = sample_key(manifest.project_id, manifest.dataset_id, victim)
    if damage == "deleted":
        storage.delete(key)
    else:
        storage.put(key, storage.get(key)[:200])
    job = submit(storage, manifest)

    worker.work(burst=True)

    job = get_job(storage, job.job_id)
    assert job.state == "failed"
    assert f"'{victim.source}' (class 'circle')" in job.error
    assert job.error.endswith("Upload the examples again and retrain.")
    assert "Traceback" not in job.error
    assert current_version(storage, "proj-corrupt") == "v1"
    assert [m.version for m in list_versions(storage, "proj-corrupt")] == ["v1"]


@pytest.mark.slow
def test_an_unreadable_image_fails_the_job_naming_every_such_file(storage: Storage, worker: Worker) -> None:
    per_class = shapes(10, seed=29, classes=("circle", "square"))
    per_class["square"][2] = b"these bytes are no image"
    per_class["square"][5] = b"\x89PNG\r\n\x1a\n truncated"
    manifest = write_image_dataset(storage, per_class)
    job = submit(storage, manifest)

    worker.work(burst=True)

    job = get_job(storage, job.job_id)
    assert (job.state, job.failures) == ("failed", 1)
    assert job.error.startswith("2 examples of this dataset are damaged (not readable as an image): ")
    assert "'square_2.png' (class 'square')" in job.error and "'square_5.png' (class 'square')" in job.error


def test_a_deleted_dataset_fails_at_once_saying_what_to_do(storage: Storage, worker: Worker) -> None:
    manifest = DatasetManifest(dataset_id="gone", project_id="p", kind="image", class_names=["a", "b"],
                               samples=[])
    job = submit(storage, manifest)
    worker.work(burst=True)
    job = get_job(storage, job.job_id)
    assert (job.state, job.failures) == ("failed", 1)
    assert job.error == ("The examples for this training are gone (the dataset snapshot was deleted); "
                         "upload the examples again and retrain.")


def test_an_unexpected_error_is_retried_then_fails_with_a_readable_reason(
    storage: Storage, worker: Worker
) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=24, classes=("circle", "square")))
    # A snapshot no preprocess writes (a sample of a third class): a bug, not a user error.
    # (An unknown backbone fails at once instead: tests/models/test_choices.py.)
    manifest.samples[0].class_index = 2
    write_manifest(storage, manifest)
    job = submit(storage, manifest)

    worker.work(burst=True)

    job = get_job(storage, job.job_id)
    assert (job.state, job.failures) == ("failed", worker.settings.max_attempts)
    assert job.error.startswith("Training stopped on an unexpected error (IndexError: ")
    assert current_version(storage, manifest.project_id) is None


def test_heartbeat_reports_phase_percent_and_time_left(storage: Storage, trainer_settings: Settings) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=25, classes=("circle", "square")))
    job = submit(storage, manifest)
    claim = claim_next_job(storage, "t1")
    with JobHeartbeat(storage, claim, interval=0.05) as beat:
        beat.update("training", 0.5)
        wait_until(_in_phase(storage, job.job_id, "training"), 10, "the training phase in the status")
    progress = get_job(storage, job.job_id).progress
    assert progress["percent"] == 72.5  # halfway through training, which spans 60-85 %
    assert progress["elapsed"] >= 0 and progress["eta_seconds"] >= 0


@pytest.mark.slow
def test_sigterm_releases_the_job_so_another_trainer_takes_it_at_once(
    storage: Storage, trainer_settings: Settings, tmp_path: Path
) -> None:
    manifest = write_image_dataset(storage, shapes(50, seed=26, classes=("square", "triangle")))
    job = submit(storage, manifest)
    trainer = start_trainer(trainer_settings, tmp_path / "trainer.log")
    try:
        wait_until(_in_phase(storage, job.job_id, "features"), 60, "the trainer to start featurizing")
        trainer.send_signal(signal.SIGTERM)
        assert trainer.wait(timeout=30) == 0
    finally:
        trainer.kill()
    released = get_job(storage, job.job_id)
    assert (released.state, released.trainer_id, released.failures) == ("queued", "", 0)
    assert current_version(storage, manifest.project_id) is None

    Worker(storage, trainer_settings, export=False).work(burst=True)  # no lease to wait out
    assert get_job(storage, job.job_id).state == "succeeded"


@pytest.mark.slow
def test_a_killed_trainers_job_is_finished_by_another_while_the_old_model_serves(
    storage: Storage, worker: Worker, trainer_settings: Settings, tmp_path: Path
) -> None:
    settings = trainer_settings.replace(lease_seconds=2.0, heartbeat_seconds=0.3)
    _train_first_version(storage, worker, "proj-kill")
    manifest = write_image_dataset(storage, shapes(60, seed=27, classes=("circle", "square")), "proj-kill")
    job = submit(storage, manifest)
    victim = start_trainer(settings, tmp_path / "victim.log")
    try:
        wait_until(_in_phase(storage, job.job_id, "features"), 60, "the trainer to start featurizing")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        victim.kill()
    assert current_version(storage, "proj-kill") == "v1"
    served = load_model(storage, "proj-kill", "v1", settings.cache_dir).predict_proba(
        [storage.get(sample_key("proj-kill", manifest.dataset_id, manifest.samples[0]))])
    assert served.shape == (1, 2)

    Worker(storage, settings, export=False).work(max_jobs=1, max_idle_time=30)

    finished = get_job(storage, job.job_id)
    assert (finished.state, finished.claim, finished.failures) == ("succeeded", 2, 1)
    assert current_version(storage, "proj-kill") == finished.model_version == "v2"


@pytest.mark.slow
def test_two_trainers_on_one_queue_train_each_job_exactly_once(
    storage: Storage, trainer_settings: Settings, tmp_path: Path
) -> None:
    projects = [f"proj-race-{n}" for n in range(4)]
    jobs = [submit(storage, write_image_dataset(
        storage, shapes(10, seed=30 + n, classes=("circle", "triangle")), project)) for n, project in
        enumerate(projects)]
    trainers = [start_trainer(trainer_settings, tmp_path / f"trainer{n}.log", "--burst") for n in range(2)]
    try:
        assert [t.wait(timeout=120) for t in trainers] == [0, 0]
    finally:
        for trainer in trainers:
            trainer.kill()
    for job in jobs:
        assert get_job(storage, job.job_id).state == "succeeded"
        assert len(storage.list(f"jobs/claims/{job.job_id}/")) == 1
    for project in projects:
        assert [m.version for m in list_versions(storage, project)] == ["v1"]
        assert len(storage.list(f"projects/{project}/versions/")) == 1


def test_an_idle_trainer_in_aws_mode_stops_its_own_ec2_instance(
    s3_storage: Storage, settings: Settings, moto_endpoint: str
) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    aws = settings.replace(storage="s3://bucket/tb", trainer_instance_id=instance,
                           trainer_idle_stop_seconds=0.2, trainer_poll_seconds=0.05)

    jobs_run = Worker(s3_storage, aws, ec2_client=ec2).work()

    assert jobs_run == 0
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("stopping", "stopped")


def test_a_trainer_shows_itself_on_the_admin_page_until_it_stops(storage: Storage, worker: Worker) -> None:
    worker.work(burst=True)
    (record,) = list_trainers(storage)
    assert (record["trainer_id"], record["state"], record["job_id"]) == ("test-trainer", "stopped", "")
    assert record["seen"] == pytest.approx(time.time(), abs=60)


@pytest.mark.slow
def test_cancelling_a_training_job_stops_it_at_the_next_safe_point(storage: Storage, worker: Worker) -> None:
    manifest = write_image_dataset(storage, shapes(100, seed=28, classes=("circle", "square")))
    job = submit(storage, manifest)
    training = threading.Thread(target=worker.work, kwargs={"burst": True})
    training.start()
    try:
        wait_until(_in_phase(storage, job.job_id, "features"), 60, "the trainer to start featurizing")
        request_cancel(storage, job.job_id)
    finally:
        training.join(timeout=120)
    cancelled = get_job(storage, job.job_id)
    assert cancelled.state == "cancelled"
    assert cancelled.progress["phase"] == "cancelled" and cancelled.progress["percent"] < 60
    assert current_version(storage, manifest.project_id) is None
