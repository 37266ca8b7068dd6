"""The admin dashboard: hidden from everyone but admins; each action confirmed, done and audited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from teachbox.admin import TRAINER_STALE_SECONDS, list_audit
from teachbox.jobs import (
    JobCancelled,
    claim_next_job,
    get_job,
    heartbeat,
    list_project_jobs,
    mark_failed,
    record_trainer,
    submit_job,
)
from teachbox.records import now
from teachbox.users import get_user
from tests.admin.conftest import signed_in
from tests.webapp.conftest import AuthActions, ProjectActions, csrf_token

JOB_ID = "0000000000001-abcdef01"
ADMIN_URLS = [("get", "/admin/")] + [
    (method, f"/admin/actions/{name}/{target}")
    for name, target in [("disable-user", "bob"), ("enable-user", "bob"), ("make-admin", "bob"),
                         ("unmake-admin", "bob"), ("cancel-job", JOB_ID), ("retry-job", JOB_ID)]
    for method in ("get", "post")
]


def _confirm(client, name: str, target: str):
    path = f"/admin/actions/{name}/{target}"
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


@pytest.fixture
def queued_job(app_storage):
    return submit_job(app_storage, "0123456789abcdef", "fedcba9876543210", "image", featurizer="lite0",
                      options={"augment": True})


@pytest.mark.parametrize(("method", "path"), ADMIN_URLS)
def test_anonymous_visitors_get_404_on_every_admin_url(app, method, path):
    client = app.test_client()
    token = csrf_token(client, "/auth/login")
    assert getattr(client, method)(path, data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize(("method", "path"), ADMIN_URLS)
def test_users_who_are_not_admins_get_404_on_every_admin_url(alice, app_storage, method, path):
    token = csrf_token(alice, "/")
    assert getattr(alice, method)(path, data={"csrf_token": token}).status_code == 404
    assert not get_user(app_storage, "bob").disabled and not get_user(app_storage, "bob").is_admin


def test_the_dashboard_lists_users_projects_jobs_and_storage_used(app, root, app_storage, settings):
    uploader = app.test_client()
    AuthActions(uploader).login("alice")
    status = ProjectActions(app, uploader).create_image_project("Fruit")
    page = root.get("/admin/").get_data(as_text=True)
    for name in ("root", "alice", "bob"):
        assert f'data-user="{name}"' in page
    folder = Path(settings.storage.removeprefix("file://"), "projects", status.project_id)
    on_disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert on_disk > 0
    assert re.search(rf'data-project="{status.project_id}">.*?data-bytes="{on_disk}"', page, re.S)
    assert re.search(rf'data-job="{status.job_id}">.*?>queued<.*?0 ahead', page, re.S)


def test_trainers_show_their_current_job_and_a_silent_one_is_stale(root, app_storage, queued_job):
    record_trainer(app_storage, "busy-1", "training", queued_job.job_id)
    record_trainer(app_storage, "gone-2", "idle", clock=lambda: now() - TRAINER_STALE_SECONDS - 5)
    page = root.get("/admin/").get_data(as_text=True)
    busy = re.search(r'data-trainer="busy-1".*?</tr>', page, re.S)[0]
    gone = re.search(r'data-trainer="gone-2".*?</tr>', page, re.S)[0]
    assert queued_job.job_id in busy and "data-stale" not in busy
    assert "data-stale" in gone and "stale: not heard of" in gone


def test_an_action_asks_for_confirmation_before_doing_anything(root, app_storage):
    page = root.get("/admin/actions/disable-user/bob").get_data(as_text=True)
    assert "Disable the account bob?" in page and 'id="confirm-submit"' in page
    assert not get_user(app_storage, "bob").disabled
    assert list_audit(app_storage) == []


def test_an_action_posted_without_the_csrf_token_changes_nothing(root, app_storage):
    assert root.post("/admin/actions/disable-user/bob").status_code == 400
    assert not get_user(app_storage, "bob").disabled


def test_disabling_a_user_is_done_and_audited(root, app_storage):
    response = _confirm(root, "disable-user", "bob")
    assert response.status_code == 302
    assert get_user(app_storage, "bob").disabled
    [entry] = list_audit(app_storage)
    assert (entry.actor, entry.action, entry.target) == ("root", "disable-user", "bob")
    assert entry.detail == "disabled"
    assert abs(entry.at - now()) < 60
    [key] = app_storage.list("admin/audit/")
    assert re.fullmatch(r"admin/audit/\d{13}-[0-9a-f]{16}\.json", key)
    assert "disable-user" in root.get("/admin/").get_data(as_text=True)


def test_a_disabled_user_loses_their_session_and_cannot_log_in(app, root):
    bob = signed_in(app, "bob")
    _confirm(root, "disable-user", "bob")
    response = bob.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert AuthActions(bob).login("bob").status_code == 200  # the form again, with its error


def test_an_enabled_user_can_log_in_again(app, root, app_storage):
    _confirm(root, "disable-user", "bob")
    _confirm(root, "enable-user", "bob")
    assert not get_user(app_storage, "bob").disabled
    assert AuthActions(app.test_client()).login("bob").status_code == 302
    assert [e.action for e in list_audit(app_storage)] == ["enable-user", "disable-user"]


def test_a_user_made_admin_sees_the_dashboard_and_loses_it_when_unmade(app, root, app_storage):
    bob = signed_in(app, "bob")
    _confirm(root, "make-admin", "bob")
    assert bob.get("/admin/").status_code == 200
    _confirm(root, "unmake-admin", "bob")
    assert bob.get("/admin/").status_code == 404
    assert [e.detail for e in list_audit(app_storage)] == ["no longer an admin", "now an admin"]


@pytest.mark.parametrize("name", ["disable-user", "unmake-admin"])
def test_an_admin_cannot_change_their_own_account(root, app_storage, name):
    response = _confirm(root, name, "root")
    assert response.status_code == 400
    assert "You cannot change your own account here; ask another admin." in response.get_data(as_text=True)
    user = get_user(app_storage, "root")
    assert user.is_admin and not user.disabled
    assert list_audit(app_storage) == []


def test_an_unknown_user_or_job_is_404(root):
    assert root.get("/admin/actions/disable-user/nobody").status_code == 404
    assert root.get(f"/admin/actions/cancel-job/{JOB_ID}").status_code == 404
    assert root.get("/admin/actions/delete-everything/bob").status_code == 404


def test_cancelling_a_queued_job_ends_it_and_is_audited(root, app_storage, queued_job):
    assert _confirm(root, "cancel-job", queued_job.job_id).status_code == 302
    assert get_job(app_storage, queued_job.job_id).state == "cancelled"
    [entry] = list_audit(app_storage)
    assert (entry.action, entry.target, entry.detail) == ("cancel-job", queued_job.job_id, "cancelled")


def test_cancelling_a_training_job_asks_its_trainer_to_stop(root, app_storage, queued_job):
    claim = claim_next_job(app_storage, "trainer-1")
    _confirm(root, "cancel-job", queued_job.job_id)
    with pytest.raises(JobCancelled, match=f"Job {queued_job.job_id} was cancelled."):
        heartbeat(app_storage, claim)
    assert list_audit(app_storage)[0].detail == "cancel requested; it stops at its next heartbeat"


def test_retrying_a_failed_job_queues_the_same_dataset_and_options(root, app_storage, queued_job):
    claim = claim_next_job(app_storage, "trainer-1")
    mark_failed(app_storage, claim, "out of memory", retry=False)
    assert _confirm(root, "retry-job", queued_job.job_id).status_code == 302
    newest = list_project_jobs(app_storage, queued_job.project_id)[0]
    assert newest.job_id != queued_job.job_id and newest.state == "queued"
    assert (newest.dataset_id, newest.featurizer, newest.options) == ("fedcba9876543210", "lite0",
                                                                       {"augment": True})
    assert list_audit(app_storage)[0].detail == f"new job {newest.job_id}"


def test_retrying_a_job_that_is_still_queued_is_refused(root, app_storage, queued_job):
    response = _confirm(root, "retry-job", queued_job.job_id)
    assert response.status_code == 400
    assert f"Job {queued_job.job_id} is still queued; cancel it or let it finish first." in \
        response.get_data(as_text=True)
    assert len(list_project_jobs(app_storage, queued_job.project_id)) == 1


def test_the_admin_link_is_shown_to_admins_only(root, alice):
    assert 'href="/admin/"' in root.get("/").get_data(as_text=True)
    assert 'href="/admin/"' not in alice.get("/").get_data(as_text=True)
