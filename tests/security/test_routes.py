"""Every route, found by walking ``app.url_map`` so a new one cannot be forgotten: another
user gets 404 for anything of alice's, a POST without a CSRF token changes nothing, pages
carry the security headers, and no template holds an inline script or event handler.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.routing import Rule

from teachbox.datasets import load_manifest
from teachbox.jobs import list_project_jobs
from teachbox.settings import load_settings
from tests.webapp.conftest import AuthActions, ProjectActions, csrf_token
from webapp import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Arguments that name no one's data; every other argument must be filled from alice's project.
PUBLIC_ARGUMENTS = {"kind": "image", "filename": "css/app.css"}
CSRF_REFUSED = "did not come from this site"
# Owned things the fixture does not make (alice's 404 there is right); bob is checked on them all the same.
NOT_MADE_BY_FIXTURE = {"projects.pending_image"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, cache_dir):
    data = tmp_path_factory.mktemp("data")
    app = create_app(load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                                   secret_key="test-secret"))
    app.config["TESTING"] = True
    yield app
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture(scope="module")
def alices(app) -> dict:
    """alice's project, upload, job, dataset and one sample: every id a route may take."""
    alice = app.test_client()
    AuthActions(alice).register("alice")
    status = ProjectActions(app, alice).create_image_project("Colours", per_class=10)
    storage = app.extensions["teachbox"].storage
    dataset_id = list_project_jobs(storage, status.project_id)[0].dataset_id
    sample = load_manifest(storage, status.project_id, dataset_id).samples[0]
    return {"project_id": status.project_id, "job_id": status.job_id, "upload_id": status.upload_id,
            "dataset_id": dataset_id, "sha256": sample.sha256, "class_index": sample.class_index,
            "version": "v1"}


@pytest.fixture(scope="module")
def alice(app, alices):
    client = app.test_client()
    AuthActions(client).login("alice")
    return client


@pytest.fixture(scope="module")
def bob(app):
    client = app.test_client()
    AuthActions(client).register("bob")
    return client


def _rules(app, *, owned: bool) -> list[Rule]:
    return [r for r in app.url_map.iter_rules()
            if r.endpoint != "static" and bool(set(r.arguments) - set(PUBLIC_ARGUMENTS)) == owned]


def _url(rule: Rule, alices: dict) -> str:
    unknown = set(rule.arguments) - set(alices) - set(PUBLIC_ARGUMENTS)
    assert not unknown, f"{rule.rule}: add a value of alice's for {sorted(unknown)} to the `alices` fixture"
    values = {**PUBLIC_ARGUMENTS, **alices}
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


def _methods(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_the_walk_finds_the_owned_routes(app):
    # A guard on the walk itself: if it found nothing, the tests below would pass vacuously.
    owned = {r.endpoint for r in _rules(app, owned=True)}
    assert {"projects.project_page", "projects.job_json", "projects.sample_image",
            "projects.upload_json", "projects.promote"} <= owned


def test_alice_reaches_every_owned_page(app, alice, alices):
    """The positive control: the ids are right, so bob's 404s below are about ownership."""
    for rule in _rules(app, owned=True):
        if "GET" in rule.methods and rule.endpoint not in NOT_MADE_BY_FIXTURE:
            response = alice.get(_url(rule, alices))
            assert response.status_code in (200, 302), (rule.rule, response.status_code)


def test_another_user_gets_404_on_every_owned_route_and_method(app, bob, alices):
    token = csrf_token(bob, "/")
    for rule in _rules(app, owned=True):
        url = _url(rule, alices)
        for method in _methods(rule):
            response = bob.open(url, method=method, data={"csrf_token": token, "version": "v1"})
            assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize("query", ["retry={upload_id}", "project={project_id}"])
def test_another_user_gets_404_for_alices_ids_in_the_train_page_query(bob, alices, query):
    response = bob.get("/image/train?" + query.format(**alices))
    assert response.status_code == 404


def test_another_users_404_reveals_nothing_of_alices_project(bob, alices):
    page = bob.get(f"/projects/{alices['project_id']}").get_data(as_text=True)
    assert "Colours" not in page and "red" not in page


def test_every_post_route_refuses_a_signed_in_user_without_a_csrf_token(app, alice, alices):
    storage = app.extensions["teachbox"].storage
    before = sorted(storage.list(""))
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    assert len(posts) >= 5
    for rule in posts:
        url = _url(rule, alices)
        response = alice.post(url, data={"version": "v1", "username": "alice", "password": "x"})
        if rule.endpoint.startswith("api."):
            # Token-authenticated endpoints: a session cookie alone must not authorise them.
            assert response.status_code in (401, 403, 404), (url, response.status_code)
        else:
            assert response.status_code == 400, (url, response.status_code)
            assert CSRF_REFUSED in response.get_data(as_text=True), url
    assert sorted(storage.list("")) == before


def test_every_page_carries_the_security_headers(app, alice, alices):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        response = alice.get(_url(rule, alices))
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, rule.rule
        assert "frame-ancestors 'none'" in policy, rule.rule
        assert response.headers["X-Content-Type-Options"] == "nosniff", rule.rule


def test_no_template_holds_an_inline_script_or_event_handler():
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
    found = [f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for match in inline.finditer(path.read_text())]
    assert found == []


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(settings):
    app = create_app(settings.replace(proxy_hops=1))
    response = app.test_client().get("/auth/register", headers={"X-Forwarded-Proto": "https"})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_forwarded_proto_header_is_ignored_without_a_trusted_proxy(settings):
    response = create_app(settings).test_client().get(
        "/auth/register", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in response.headers["Set-Cookie"]
