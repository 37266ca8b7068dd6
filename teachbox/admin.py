"""What the admin dashboard shows and does: users, projects with their storage use, the job
queue, trainer heartbeats, and the audit log every admin action writes.

Audit entries are ``admin/audit/<milliseconds>-<id>.json``: written once, never changed, and
listed newest first by their time-first names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from teachbox.bundles import current_version, list_versions
from teachbox.errors import BadRequest, NotFound
from teachbox.feedback import list_pending
from teachbox.jobs import JobRecord, JobStatus, get_job, list_jobs, list_trainers, request_cancel, submit_job
from teachbox.projects import Project, list_projects
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage, new_id
from teachbox.users import User, get_user, save_user

__all__ = [
    "AuditEntry",
    "ProjectRow",
    "TrainerRow",
    "TRAINER_STALE_SECONDS",
    "record_audit",
    "list_audit",
    "set_user_disabled",
    "set_user_admin",
    "cancel_job",
    "retry_job",
    "project_rows",
    "job_rows",
    "trainer_rows",
]

_logger = logging.getLogger(__name__)

# A trainer records itself on every change and every 30 s while idle, and a training job
# heartbeats every few seconds: three missed idle records mean it is gone.
TRAINER_STALE_SECONDS = 90.0
_AUDIT_PREFIX = "admin/audit/"


@dataclass
class AuditEntry:
    entry_id: str
    at: float
    actor: str
    action: str
    target: str
    detail: str = ""


@dataclass(frozen=True)
class ProjectRow:
    project: Project
    versions: int
    current: str
    bytes: int
    pending: int


@dataclass(frozen=True)
class TrainerRow:
    trainer_id: str
    state: str
    job_id: str
    last_seen: float
    age: float
    stale: bool


def record_audit(storage: Storage, actor: str, action: str, target: str, detail: str = "",
                 clock: Callable[[], float] = now) -> AuditEntry:
    """Write one audit entry (who did what to what, when)."""
    entry = AuditEntry(entry_id=new_id(), at=clock(), actor=actor, action=action, target=target,
                       detail=detail)
    key = f"{_AUDIT_PREFIX}{int(entry.at * 1000):013d}-{entry.entry_id}.json"
    if not storage.create_json_if_absent(key, asdict(entry)):
        raise RuntimeError(f"audit entry {key} already exists")  # a new random id: cannot happen
    _logger.info("audit: %s %s %s %s", actor, action, target, detail)
    return entry


def list_audit(storage: Storage, limit: int = 100) -> list[AuditEntry]:
    """The latest ``limit`` audit entries, newest first."""
    entries = []
    for key in sorted(storage.list(_AUDIT_PREFIX), reverse=True)[:limit]:
        try:
            entries.append(from_dict(AuditEntry, storage.get_json(key)))
        except ObjectNotFound:
            continue
    return entries


def _other_user(storage: Storage, actor: str, username: str) -> User:
    user = get_user(storage, username)  # NotFound for a missing user
    if user.username == actor:
        raise BadRequest("You cannot change your own account here; ask another admin.")
    return user


def set_user_disabled(storage: Storage, actor: str, username: str, disabled: bool) -> User:
    """Disable (or enable) another user; a disabled user cannot log in and loses their session.

    Raises:
        NotFound: no such user. BadRequest: ``actor`` names themselves.
    """
    user = _other_user(storage, actor, username)
    user.disabled = disabled
    save_user(storage, user)
    return user


def set_user_admin(storage: Storage, actor: str, username: str, is_admin: bool) -> User:
    """Make (or unmake) another user an admin. Raises NotFound or BadRequest as above."""
    user = _other_user(storage, actor, username)
    user.is_admin = is_admin
    save_user(storage, user)
    return user


def cancel_job(storage: Storage, job_id: str) -> JobRecord:
    """Ask a queued or training job to stop.

    Raises:
        NotFound: no such job. BadRequest: the job has already ended.
    """
    job = get_job(storage, job_id)
    if job.status.is_terminal:
        raise BadRequest(f"Job {job_id} already ended ({job.state}); there is nothing to cancel.")
    return request_cancel(storage, job_id)


def retry_job(storage: Storage, job_id: str) -> JobRecord:
    """Queue a new job on the same dataset with the same options; returns the new job.

    Raises:
        NotFound: no such job. BadRequest: the job is still queued or training.
    """
    job = get_job(storage, job_id)
    if not job.status.is_terminal:
        raise BadRequest(f"Job {job_id} is still {job.state}; cancel it or let it finish first.")
    return submit_job(storage, job.project_id, job.dataset_id, job.kind, featurizer=job.featurizer,
                      options=job.options)


def project_rows(storage: Storage) -> list[ProjectRow]:
    """Every project with its versions, current version, storage use and pending examples."""
    return [
        ProjectRow(project=project, versions=len(list_versions(storage, project.id)),
                   current=current_version(storage, project.id),
                   bytes=storage.total_size(f"projects/{project.id}/"),
                   pending=len(list_pending(storage, project)))
        for project in list_projects(storage)
    ]


def job_rows(storage: Storage) -> list[JobRecord]:
    """Every job, the unfinished ones first, then newest first."""
    jobs = list_jobs(storage)
    return sorted(jobs, key=lambda j: (j.status.is_terminal, -j.created))


def trainer_rows(storage: Storage, clock: Callable[[], float] = now) -> list[TrainerRow]:
    """Every trainer that has recorded itself. A training trainer's last sign of life is also
    its job's heartbeat; one not heard of for ``TRAINER_STALE_SECONDS`` is stale."""
    rows = []
    current = clock()
    for record in list_trainers(storage):
        seen = float(record.get("seen", 0.0))
        job_id = str(record.get("job_id", ""))
        state = str(record.get("state", ""))
        if job_id and state == JobStatus.TRAINING.value:
            try:
                seen = max(seen, get_job(storage, job_id).heartbeat)
            except NotFound:
                pass  # the job's record is gone; the trainer's own record is all there is
        age = max(0.0, current - seen)
        rows.append(TrainerRow(trainer_id=str(record.get("trainer_id", "")), state=state, job_id=job_id,
                               last_seen=seen, age=age,
                               stale=state != "stopped" and age > TRAINER_STALE_SECONDS))
    return sorted(rows, key=lambda r: r.last_seen, reverse=True)
