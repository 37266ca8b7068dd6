"""A trainer SIGKILLed at any phase of a job loses nothing: another trainer finishes the job
once the lease runs out, the previous model answers meanwhile, and nothing half-written shows;
several trainers on one queue train every job exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from teachbox.bundles import current_version, list_versions
from teachbox.datasets import sample_key
from teachbox.jobs import get_job
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import Storage
from tests.faults.trainer_harness import PHASES
from tests.trainer.conftest import shapes, submit, write_image_dataset
from tests.trainer.test_daemon import start_trainer, wait_until
from trainer.worker import Worker

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _start_parking_trainer(settings: Settings, phase: str, marker: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TEACHBOX_STORAGE": settings.storage, "TEACHBOX_CACHE_DIR": settings.cache_dir,
           "TEACHBOX_LEASE_SECONDS": str(settings.lease_seconds),
           "TEACHBOX_HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
           "TEACHBOX_TRAINER_POLL_SECONDS": str(settings.trainer_poll_seconds)}
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "tests.faults.trainer_harness", phase, str(marker)],
                                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("phase", PHASES)
def test_a_trainer_killed_in_each_phase_loses_nothing_and_the_old_model_serves_meanwhile(
    storage: Storage, worker: Worker, trainer_settings: Settings, tmp_path: Path, phase: str
) -> None:
    settings = trainer_settings.replace(lease_seconds=2.0, heartbeat_seconds=0.3)
    project = f"proj-kill-{phase}"
    first = write_image_dataset(storage, shapes(10, seed=41, classes=("circle", "square")), project)
    submit(storage, first)
    worker.work(burst=True)
    second = write_image_dataset(storage, shapes(12, seed=42, classes=("circle", "square")), project)
    job = submit(storage, second)

    marker = tmp_path / "parked"
    victim = _start_parking_trainer(settings, phase, marker, tmp_path / "victim.log")
    try:
        wait_until(marker.exists, 120, f"the trainer to reach {phase}")
        if phase == "saving":  # parked inside the bundle write: weights stored, model.json not
            assert storage.exists(f"projects/{project}/models/v2/head.npz")
            assert not storage.exists(f"projects/{project}/models/v2/model.json")
        else:
            assert get_job(storage, job.job_id).progress["phase"] == phase
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
    finally:
        victim.kill()
        victim.wait()

    # Meanwhile: v1 is promoted and answers; a half-written v2 (saving) is not listed.
    assert current_version(storage, project) == "v1"
    assert [m.version for m in list_versions(storage, project)] == ["v1"]
    image = storage.get(sample_key(project, second.dataset_id, second.samples[0]))
    assert load_model(storage, project, "v1", settings.cache_dir).predict_proba([image]).shape == (1, 2)

    Worker(storage, settings, export=False).work(max_jobs=1, max_idle_time=30)

    finished = get_job(storage, job.job_id)
    assert (finished.state, finished.failures) == ("succeeded", 1)
    assert current_version(storage, project) == finished.model_version
    assert finished.model_version in [m.version for m in list_versions(storage, project)]
    assert load_model(storage, project, finished.model_version, settings.cache_dir).predict_proba(
        [image]).shape == (1, 2)


def test_three_trainers_on_one_queue_train_each_job_exactly_once(
    storage: Storage, trainer_settings: Settings, tmp_path: Path
) -> None:
    projects = [f"proj-three-{n}" for n in range(6)]
    jobs = [submit(storage, write_image_dataset(
        storage, shapes(10, seed=50 + n, classes=("circle", "triangle")), project))
        for n, project in enumerate(projects)]
    trainers = [start_trainer(trainer_settings, tmp_path / f"trainer{n}.log", "--burst") for n in range(3)]
    try:
        assert [t.wait(timeout=240) for t in trainers] == [0, 0, 0]
    finally:
        for trainer in trainers:
            trainer.kill()
    for job in jobs:
        record = get_job(storage, job.job_id)
        assert (record.state, record.failures) == ("succeeded", 0)
        assert len(storage.list(f"jobs/claims/{job.job_id}/")) == 1
    for project in projects:
        assert [m.version for m in list_versions(storage, project)] == ["v1"]
        assert len(storage.list(f"projects/{project}/versions/")) == 1
