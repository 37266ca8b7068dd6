"""Training jobs: submission, exclusive claims, heartbeats and state transitions.

Keys (DESIGN.md "Job protocol"):

    jobs/pending/<job_id>.json           present while the job still needs a trainer
    jobs/status/<job_id>.json            the JobRecord: state, progress, heartbeat, error
    jobs/claims/<job_id>/<n>.json        claim number n, created-if-absent by one trainer
    jobs/cancel/<job_id>                 a cancel request
    projects/<project_id>/jobs/<job_id>  index of a project's jobs

A claim is numbered rather than a single ``<job_id>.json`` so that taking over a stale claim
is the same atomic create-if-absent as a first claim (claim n+1), with no compare-and-swap.
Each transition is one function that writes the whole status record in ONE put.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from teachbox.errors import NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage, new_id

__all__ = [
    "JobStatus",
    "JobRecord",
    "Claim",
    "ClaimLost",
    "JobCancelled",
    "submit_job",
    "get_job",
    "list_project_jobs",
    "list_jobs",
    "record_finished_job",
    "queue_position",
    "claim_next_job",
    "heartbeat",
    "mark_succeeded",
    "mark_failed",
    "mark_cancelled",
    "release_claim",
    "request_cancel",
    "record_trainer",
    "list_trainers",
]

_logger = logging.getLogger(__name__)
Clock = Callable[[], float]


class JobStatus(StrEnum):
    """The states of a training job."""

    QUEUED = "queued"
    TRAINING = "training"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class ClaimLost(Exception):
    """Another trainer took this job over (our heartbeat went stale)."""


class JobCancelled(Exception):
    """The owner asked to cancel the job."""


@dataclass
class JobRecord:
    job_id: str
    project_id: str
    dataset_id: str
    kind: str
    state: str
    created: float
    updated: float
    featurizer: str = ""
    options: dict = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    trainer_id: str = ""
    heartbeat: float = 0.0
    claim: int = 0
    failures: int = 0
    progress: dict = field(default_factory=dict)
    error: str = ""
    model_version: str = ""
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    @property
    def status(self) -> JobStatus:
        return JobStatus(self.state)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Claim:
    """A trainer's hold on a job: only the holder of the newest claim may write its status."""

    job: JobRecord
    number: int
    trainer_id: str


def _pending_key(job_id: str) -> str:
    return f"jobs/pending/{job_id}.json"


def _status_key(job_id: str) -> str:
    return f"jobs/status/{job_id}.json"


def _claim_key(job_id: str, number: int) -> str:
    return f"jobs/claims/{job_id}/{number:06d}.json"


def _cancel_key(job_id: str) -> str:
    return f"jobs/cancel/{job_id}"


def _new_job_id(clock: Clock) -> str:
    # Time first, so listing jobs/pending/ is first-come, first-served.
    return f"{int(clock() * 1000):013d}-{new_id()[:8]}"


def _write(storage: Storage, job: JobRecord, clock: Clock, note: str = "") -> JobRecord:
    job.updated = clock()
    if note:
        job.history.append({"at": job.updated, "state": job.state, "note": note})
    storage.put_json(_status_key(job.job_id), job.to_dict())
    return job


def submit_job(
    storage: Storage,
    project_id: str,
    dataset_id: str,
    kind: str,
    featurizer: str = "",
    options: dict | None = None,
    clock: Clock = now,
) -> JobRecord:
    """Queue a training job. The status is written before the pending entry, so a trainer
    never finds a pending job without its record."""
    created = clock()
    job = JobRecord(
        job_id=_new_job_id(clock),
        project_id=project_id,
        dataset_id=dataset_id,
        kind=kind,
        state=JobStatus.QUEUED.value,
        created=created,
        updated=created,
        featurizer=featurizer,
        options=dict(options or {}),
        progress={"phase": "queued", "percent": 0},
    )
    index_key = f"projects/{project_id}/jobs/{job.job_id}"
    _write(storage, job, clock, "queued")
    try:
        storage.put(index_key, b"")
        storage.put_json(_pending_key(job.job_id), {"job_id": job.job_id, "project_id": project_id})
    except BaseException:
        # A job without its pending entry would show as queued forever and never run.
        for key in (index_key, _status_key(job.job_id)):
            try:
                storage.delete(key)
            except Exception:
                _logger.exception("job %s: could not remove %s after a failed submit", job.job_id, key)
        raise
    return job


def record_finished_job(storage: Storage, job: JobRecord) -> JobRecord:
    """Record a job that finished elsewhere (a project import) under a new id in its time
    order: status first, then the project's index entry; never pending, so no trainer runs it.

    Raises:
        ValueError: the job has not finished.
    """
    if not job.status.is_terminal:
        raise ValueError(f"Job {job.job_id} is {job.state}; only finished jobs can be recorded.")
    job = from_dict(JobRecord, {**job.to_dict(), "job_id": _new_job_id(lambda: job.created)})
    storage.put_json(_status_key(job.job_id), job.to_dict())
    storage.put(f"projects/{job.project_id}/jobs/{job.job_id}", b"")
    return job


def get_job(storage: Storage, job_id: str) -> JobRecord:
    try:
        return from_dict(JobRecord, storage.get_json(_status_key(job_id)))
    except (ObjectNotFound, ValueError):
        raise NotFound("No such training job.") from None


def list_project_jobs(storage: Storage, project_id: str) -> list[JobRecord]:
    """A project's jobs, newest first."""
    ids = [key.rsplit("/", 1)[1] for key in storage.list(f"projects/{project_id}/jobs/")]
    return [get_job(storage, job_id) for job_id in sorted(ids, reverse=True)]


def list_jobs(storage: Storage, pending_only: bool = False) -> list[JobRecord]:
    """Every job (or only those still pending), oldest first."""
    prefix = "jobs/pending/" if pending_only else "jobs/status/"
    jobs = []
    for key in storage.list(prefix):
        try:
            jobs.append(get_job(storage, key.rsplit("/", 1)[1].removesuffix(".json")))
        except NotFound:
            continue
    return jobs


def queue_position(storage: Storage, job: JobRecord) -> int:
    """How many queued jobs will be taken before this one (0: it is next)."""
    if job.status is not JobStatus.QUEUED:
        return 0
    ahead = 0
    for key in storage.list("jobs/pending/"):
        job_id = key.rsplit("/", 1)[1].removesuffix(".json")
        if job_id >= job.job_id:
            break
        ahead += 1
    return ahead


def _latest_claim(storage: Storage, job_id: str) -> tuple[int, dict]:
    keys = storage.list(f"jobs/claims/{job_id}/")
    if not keys:
        return 0, {}
    key = keys[-1]
    number = int(key.rsplit("/", 1)[1].removesuffix(".json"))
    try:
        return number, storage.get_json(key)
    except ObjectNotFound:
        return number, {}


def _try_claim(
    storage: Storage, job_id: str, trainer_id: str, lease_seconds: float,
    max_attempts: int, clock: Clock,
) -> Claim | None:
    try:
        job = get_job(storage, job_id)
    except NotFound:
        return None
    if job.status.is_terminal:
        storage.delete(_pending_key(job_id))  # finished; a crash left the pending entry
        return None
    number, latest = _latest_claim(storage, job_id)
    stale_owner = ""
    if number and not (job.status is JobStatus.QUEUED and job.claim == number):
        # Claim `number` is active. Its last sign of life is the heartbeat it wrote, or
        # the claim's own creation if it died before writing any status.
        last_seen = job.heartbeat if job.claim == number else latest.get("created", 0.0)
        if clock() - last_seen < lease_seconds:
            return None
        stale_owner = latest.get("trainer_id", "a trainer")
    taken = storage.create_json_if_absent(
        _claim_key(job_id, number + 1), {"trainer_id": trainer_id, "created": clock()}
    )
    if not taken:
        return None  # another trainer won the race for this claim
    claim = Claim(job=job, number=number + 1, trainer_id=trainer_id)
    job.claim = claim.number
    job.trainer_id = trainer_id
    job.heartbeat = clock()
    if stale_owner:
        job.failures += 1
        reason = (
            f"Trainer {stale_owner} stopped sending heartbeats for over "
            f"{lease_seconds:.0f} s (crashed or was killed)."
        )
        job.error = reason
        if job.failures >= max_attempts:
            _finish(storage, claim, JobStatus.FAILED, clock,
                    f"{reason} Gave up after {job.failures} attempts; retrain to try again.")
            return None
        _logger.warning("job %s: taking over from stale %s", job_id, stale_owner)
    if storage.exists(_cancel_key(job_id)):
        _finish(storage, claim, JobStatus.CANCELLED, clock, "cancelled before training")
        return None
    job.state = JobStatus.TRAINING.value
    job.started = job.started or clock()
    job.progress = {"phase": "starting", "percent": 0}
    _write(storage, job, clock, f"claimed by {trainer_id}" + (" (takeover)" if stale_owner else ""))
    return claim


def claim_next_job(
    storage: Storage, trainer_id: str, lease_seconds: float = 30.0,
    max_attempts: int = 3, clock: Clock = now,
) -> Claim | None:
    """Claim the oldest job that is queued or whose trainer went stale, or return None."""
    for key in storage.list("jobs/pending/"):
        job_id = key.rsplit("/", 1)[1].removesuffix(".json")
        claim = _try_claim(storage, job_id, trainer_id, lease_seconds, max_attempts, clock)
        if claim:
            return claim
    return None


def _check_owner(storage: Storage, claim: Claim) -> None:
    if storage.exists(_claim_key(claim.job.job_id, claim.number + 1)):
        raise ClaimLost(f"Job {claim.job.job_id} was taken over by another trainer.")


def heartbeat(
    storage: Storage, claim: Claim, progress: dict | None = None, clock: Clock = now
) -> None:
    """Record that the trainer is alive (and its progress), in one put.

    Raises:
        ClaimLost: another trainer holds a newer claim; stop without writing anything.
        JobCancelled: the owner asked to cancel; the caller should ``mark_cancelled``.
    """
    _check_owner(storage, claim)
    if storage.exists(_cancel_key(claim.job.job_id)):
        raise JobCancelled(f"Job {claim.job.job_id} was cancelled.")
    claim.job.heartbeat = clock()
    if progress is not None:
        claim.job.progress = progress
    _write(storage, claim.job, clock)


def _finish(
    storage: Storage, claim: Claim, state: JobStatus, clock: Clock, note: str
) -> JobRecord:
    job = claim.job
    job.state = state.value
    job.finished = clock()
    job.heartbeat = job.finished
    if state is JobStatus.FAILED:
        job.error = note
    _write(storage, job, clock, note)
    storage.delete(_pending_key(job.job_id))
    return job


def mark_succeeded(
    storage: Storage, claim: Claim, model_version: str, metrics: dict, clock: Clock = now
) -> JobRecord:
    _check_owner(storage, claim)
    claim.job.model_version = model_version
    claim.job.metrics = metrics
    claim.job.error = ""
    claim.job.progress = {"phase": "done", "percent": 100}
    return _finish(storage, claim, JobStatus.SUCCEEDED, clock, f"model {model_version} promoted")


def mark_failed(
    storage: Storage, claim: Claim, reason: str, max_attempts: int = 3,
    retry: bool = True, clock: Clock = now,
) -> JobRecord:
    """Count a failed attempt. Requeue while attempts remain and ``retry`` is true
    (a transient error); otherwise the job ends ``failed`` with ``reason`` for the user."""
    job = claim.job
    job.failures += 1
    job.progress = {"phase": "failed", "percent": job.progress.get("percent", 0)}
    if retry and job.failures < max_attempts:
        job.state = JobStatus.QUEUED.value
        job.error = reason
        job.trainer_id = ""
        return _write(storage, job, clock, f"attempt {job.failures} failed: {reason}")
    return _finish(storage, claim, JobStatus.FAILED, clock, reason)


def mark_cancelled(storage: Storage, claim: Claim, clock: Clock = now) -> JobRecord:
    claim.job.progress = {"phase": "cancelled", "percent": claim.job.progress.get("percent", 0)}
    return _finish(storage, claim, JobStatus.CANCELLED, clock, "cancelled by its owner")


def release_claim(storage: Storage, claim: Claim, note: str, clock: Clock = now) -> JobRecord:
    """Give the job back to the queue without counting a failure (trainer shutting down)."""
    job = claim.job
    job.state = JobStatus.QUEUED.value
    job.trainer_id = ""
    job.progress = {"phase": "queued", "percent": 0}
    return _write(storage, job, clock, note)


def request_cancel(storage: Storage, job_id: str, clock: Clock = now) -> JobRecord:
    """Ask for a job to stop. A queued job with no live claim is cancelled at once; a
    training job stops at its next heartbeat."""
    job = get_job(storage, job_id)
    if job.status.is_terminal:
        return job
    storage.put(_cancel_key(job_id), b"")
    if job.status is JobStatus.QUEUED:
        number, _ = _latest_claim(storage, job_id)
        if number == job.claim and not storage.create_json_if_absent(
            _claim_key(job_id, number + 1), {"trainer_id": "cancel", "created": clock()}
        ):
            return job  # a trainer claimed it this instant; it will see the cancel request
        claim = Claim(job=job, number=number + 1, trainer_id="cancel")
        job.claim = claim.number
        return _finish(storage, claim, JobStatus.CANCELLED, clock, "cancelled by its owner")
    return job


def record_trainer(
    storage: Storage, trainer_id: str, state: str, job_id: str = "", clock: Clock = now
) -> None:
    """A trainer's own heartbeat, for the admin dashboard."""
    storage.put_json(
        f"trainers/{trainer_id}.json",
        {"trainer_id": trainer_id, "state": state, "job_id": job_id, "seen": clock()},
    )


def list_trainers(storage: Storage) -> list[dict]:
    return [storage.get_json(key) for key in storage.list("trainers/")]
