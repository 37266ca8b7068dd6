"""The admin dashboard: users, projects, the job queue, trainers and the audit log.

Admins only: everyone else, signed in or not, gets 404, so the pages reveal nothing. Every
action is a link to a confirmation page whose form POSTs (with CSRF) to the same URL; the
action is done by one ``teachbox.admin`` function and written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for

from teachbox import admin
from teachbox.errors import BadRequest, NotFound
from teachbox.jobs import JobStatus, get_job, queue_position
from teachbox.records import now
from teachbox.storage import Storage
from teachbox.users import get_user, list_users
from webapp.admin.forms import ConfirmForm
from webapp.extensions import services

__all__ = ["bp", "ACTIONS"]

_logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")


# (storage, actor, target) -> the detail written to the audit log
Run = Callable[[Storage, str, str], str]


@dataclass(frozen=True)
class Action:
    """One admin action: what the confirmation page asks, and what confirming it does
    (returns the detail recorded in the audit log)."""

    question: str  # formatted with {target}
    consequence: str
    button: str
    kind: str  # "user" or "job": how the target is looked up
    run: Run


def _user_action(change: Callable[[Storage, str, str], object], detail: str) -> Run:
    def run(storage: Storage, actor: str, target: str) -> str:
        change(storage, actor, target)
        return detail

    return run


def _cancelled(state: str) -> str:
    return "cancelled" if state == JobStatus.CANCELLED else "cancel requested; it stops at its next heartbeat"


ACTIONS: dict[str, Action] = {
    "disable-user": Action(
        "Disable the account {target}?", "They are signed out at once and cannot log in until enabled.",
        "Disable", "user",
        _user_action(lambda s, a, t: admin.set_user_disabled(s, a, t, True), "disabled")),
    "enable-user": Action(
        "Enable the account {target}?", "They can log in again.", "Enable", "user",
        _user_action(lambda s, a, t: admin.set_user_disabled(s, a, t, False), "enabled")),
    "make-admin": Action(
        "Make {target} an admin?", "They will see every project, user and job, and can change them.",
        "Make admin", "user",
        _user_action(lambda s, a, t: admin.set_user_admin(s, a, t, True), "now an admin")),
    "unmake-admin": Action(
        "Remove admin rights from {target}?", "They keep their account and their own projects.",
        "Remove admin", "user",
        _user_action(lambda s, a, t: admin.set_user_admin(s, a, t, False), "no longer an admin")),
    "cancel-job": Action(
        "Cancel training job {target}?", "A queued job ends now; a training job stops at its next "
        "heartbeat. The project keeps its current model.", "Cancel job", "job",
        lambda s, a, t: _cancelled(admin.cancel_job(s, t).state)),
    "retry-job": Action(
        "Retry training job {target}?", "A new job is queued on the same dataset with the same options.",
        "Retry job", "job",
        lambda s, a, t: f"new job {admin.retry_job(s, t).job_id}"),
}


@bp.before_request
def admins_only() -> None:
    if g.user is None or not g.user.is_admin:
        abort(404)


@bp.app_template_filter("bytes")
def _bytes(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


@bp.app_template_filter("age")
def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


@bp.route("/")
def dashboard():
    storage = services().storage
    jobs = admin.job_rows(storage)
    positions = {j.job_id: queue_position(storage, j) for j in jobs if j.status is JobStatus.QUEUED}
    projects = admin.project_rows(storage)
    return render_template(
        "admin/dashboard.html", users=sorted(list_users(storage), key=lambda u: u.username),
        projects=projects, names={row.project.id: row.project.name for row in projects},
        jobs=jobs, positions=positions, now=now(),
        trainers=admin.trainer_rows(storage), audit=admin.list_audit(storage, limit=50),
        stale_after=admin.TRAINER_STALE_SECONDS,
    )


def _target_or_404(action: Action, target: str) -> None:
    try:
        if action.kind == "user":
            get_user(services().storage, target)
        else:
            get_job(services().storage, target)
    except (NotFound, ValueError):
        abort(404)


@bp.route("/actions/<name>/<target>", methods=["GET", "POST"])
def action(name: str, target: str):
    chosen = ACTIONS.get(name) or abort(404)
    _target_or_404(chosen, target)
    form = ConfirmForm()
    error = ""
    if form.validate_on_submit():
        storage = services().storage
        try:
            detail = chosen.run(storage, g.user.username, target)
        except BadRequest as failure:
            error = failure.message
        else:
            admin.record_audit(storage, g.user.username, name, target, detail)
            flash(f"{target}: {detail}.")
            return redirect(url_for("admin.dashboard"))
    form.submit.label.text = chosen.button
    return render_template("admin/confirm.html", action=chosen, name=name, target=target, form=form,
                           error=error), 400 if error else 200
