"""Job protocol: exclusive claims, stale takeover, transitions written in one put."""

from __future__ import annotations

import threading

import pytest

from teachbox.jobs import (
    ClaimLost,
    JobCancelled,
    JobStatus,
    claim_next_job,
    get_job,
    heartbeat,
    list_project_jobs,
    mark_cancelled,
    mark_failed,
    mark_succeeded,
    queue_position,
    release_claim,
    request_cancel,
    submit_job,
)
from teachbox.storage import Storage


class FakeClock:
    """Time the test controls, so lease expiry needs no sleeping."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def _submit(storage: Storage, clock: FakeClock | None = None, project: str = "p" * 16):
    kwargs = {"clock": clock} if clock else {}
    return submit_job(storage, project, "d1", "image", featurizer="lite0", **kwargs)


def test_a_submitted_job_is_queued_and_listed_under_its_project(any_storage: Storage) -> None:
    job = _submit(any_storage)
    assert get_job(any_storage, job.job_id).status is JobStatus.QUEUED
    assert [j.job_id for j in list_project_jobs(any_storage, "p" * 16)] == [job.job_id]


def test_jobs_are_claimed_first_come_first_served(any_storage: Storage) -> None:
    clock = FakeClock()
    first = _submit(any_storage, clock)
    clock.t += 1
    second = _submit(any_storage, clock)
    assert queue_position(any_storage, get_job(any_storage, second.job_id)) == 1
    claim = claim_next_job(any_storage, "t1", clock=clock)
    assert claim.job.job_id == first.job_id
    assert get_job(any_storage, first.job_id).status is JobStatus.TRAINING


def test_claim_is_exclusive_between_racing_trainers(any_storage: Storage) -> None:
    _submit(any_storage)
    claims = []
    barrier = threading.Barrier(6)

    def trainer(name: str) -> None:
        barrier.wait()
        claim = claim_next_job(any_storage, name)
        if claim:
            claims.append(claim)

    threads = [threading.Thread(target=trainer, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claims) == 1
    assert get_job(any_storage, claims[0].job.job_id).trainer_id == claims[0].trainer_id


def test_a_job_with_a_fresh_heartbeat_is_not_taken(any_storage: Storage) -> None:
    clock = FakeClock()
    _submit(any_storage, clock)
    claim = claim_next_job(any_storage, "t1", lease_seconds=30, clock=clock)
    clock.t += 20
    heartbeat(any_storage, claim, {"phase": "training", "percent": 40}, clock=clock)
    clock.t += 20
    assert claim_next_job(any_storage, "t2", lease_seconds=30, clock=clock) is None


def test_a_stale_claim_is_taken_over_and_the_old_trainer_learns_it(any_storage: Storage) -> None:
    clock = FakeClock()
    job = _submit(any_storage, clock)
    old = claim_next_job(any_storage, "t1", lease_seconds=30, clock=clock)
    clock.t += 31
    new = claim_next_job(any_storage, "t2", lease_seconds=30, clock=clock)
    assert new is not None and new.number == old.number + 1
    record = get_job(any_storage, job.job_id)
    assert record.trainer_id == "t2" and record.failures == 1
    assert "t1 stopped sending heartbeats" in record.error
    with pytest.raises(ClaimLost, match="taken over"):
        heartbeat(any_storage, old, clock=clock)


def test_a_trainer_that_died_before_writing_status_is_taken_over(any_storage: Storage) -> None:
    clock = FakeClock()
    job = _submit(any_storage, clock)
    # The dead trainer created claim 1 and died before its first status write.
    any_storage.put_json(f"jobs/claims/{job.job_id}/000001.json",
                         {"trainer_id": "ghost", "created": clock.t})
    assert claim_next_job(any_storage, "t2", lease_seconds=30, clock=clock) is None
    clock.t += 31
    claim = claim_next_job(any_storage, "t2", lease_seconds=30, clock=clock)
    assert claim.number == 2


def test_a_job_whose_trainers_keep_dying_ends_failed_with_the_reason(any_storage: Storage) -> None:
    clock = FakeClock()
    job = _submit(any_storage, clock)
    for attempt in range(3):
        assert claim_next_job(any_storage, f"t{attempt}", lease_seconds=30, max_attempts=3,
                              clock=clock)
        clock.t += 31
    assert claim_next_job(any_storage, "t9", lease_seconds=30, max_attempts=3, clock=clock) is None
    record = get_job(any_storage, job.job_id)
    assert record.status is JobStatus.FAILED
    assert record.error.endswith("Gave up after 3 attempts; retrain to try again.")
    assert any_storage.list("jobs/pending/") == []


def test_a_failed_attempt_is_retried_until_attempts_run_out(any_storage: Storage) -> None:
    job = _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    assert mark_failed(any_storage, claim, "S3 timed out", max_attempts=2).status is JobStatus.QUEUED
    claim = claim_next_job(any_storage, "t1")
    assert claim.number == 2
    final = mark_failed(any_storage, claim, "S3 timed out again", max_attempts=2)
    assert final.status is JobStatus.FAILED and final.error == "S3 timed out again"
    assert get_job(any_storage, job.job_id).failures == 2


def test_a_permanent_failure_is_not_retried(any_storage: Storage) -> None:
    _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    record = mark_failed(any_storage, claim, "Sample cat.jpg is unreadable.", retry=False)
    assert record.status is JobStatus.FAILED
    assert claim_next_job(any_storage, "t2") is None


def test_success_records_the_model_and_removes_the_pending_entry(any_storage: Storage) -> None:
    job = _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    mark_succeeded(any_storage, claim, "v1", {"accuracy": 0.9})
    record = get_job(any_storage, job.job_id)
    assert (record.status, record.model_version, record.metrics) == (
        JobStatus.SUCCEEDED, "v1", {"accuracy": 0.9})
    assert record.progress["percent"] == 100
    assert any_storage.list("jobs/pending/") == []


def test_a_released_job_is_claimable_again_without_counting_a_failure(any_storage: Storage) -> None:
    job = _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    release_claim(any_storage, claim, "trainer t1 shutting down")
    again = claim_next_job(any_storage, "t2")
    assert again.job.job_id == job.job_id and again.job.failures == 0


def test_cancelling_a_queued_job_ends_it_at_once(any_storage: Storage) -> None:
    job = _submit(any_storage)
    assert request_cancel(any_storage, job.job_id).status is JobStatus.CANCELLED
    assert claim_next_job(any_storage, "t1") is None


def test_cancelling_a_training_job_stops_it_at_the_next_heartbeat(any_storage: Storage) -> None:
    job = _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    assert request_cancel(any_storage, job.job_id).status is JobStatus.TRAINING
    with pytest.raises(JobCancelled):
        heartbeat(any_storage, claim)
    assert mark_cancelled(any_storage, claim).status is JobStatus.CANCELLED


def test_every_transition_is_recorded_in_the_history(any_storage: Storage) -> None:
    job = _submit(any_storage)
    claim = claim_next_job(any_storage, "t1")
    mark_succeeded(any_storage, claim, "v1", {})
    notes = [entry["note"] for entry in get_job(any_storage, job.job_id).history]
    assert notes == ["queued", "claimed by t1", "model v1 promoted"]
