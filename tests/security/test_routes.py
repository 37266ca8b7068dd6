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
from teachbox.storage import Storage
from teachbox.tokens import create_token
from teachbox.users import create_user
from tests.webapp.conftest import AuthActions, ProjectActions, csrf_token
from trainer.worker import Worker
from webapp import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Arguments that name no one's data; every other argument must be filled from alice's project.
PUBLIC_ARGUMENTS = {"kind": "image", "filename": "css/app.css"}
# Where one argument name means different things on different routes.
ENDPOINT_VALUES = {"api.export": {"name": "classes.txt"},
                   "admin.action": {"name": "disable-user", "target": "alice"}}
CSRF_REFUSED = "did not come from this site"
# Owned things the fixture does not make (the owner's 404 there is right); bob is checked on them all
# the same. Exports are written by the (slow) export step the fixture's trainer skips.
NOT_MADE_BY_FIXTURE = {"projects.pending_image", "api.export"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, cache_dir):
    data = tmp_path_factory.mktemp("data")
    app = create_app(load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                                   secret_key="test-secret"))
    app.config["TESTING"] = True
    yield app
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture(scope="module")
def storage(app) -> Storage:
    return app.extensions["teachbox"].storage


@pytest.fixture(scope="module")
def alices(app, storage) -> dict:
    """alice's trained project, its upload, job, dataset, one sample and an API token: every id
    a route may take."""
    alice = app.test_client()
    AuthActions(alice).register("alice")
    status = ProjectActions(app, alice).create_image_project("Colours", per_class=10)
    Worker(storage, app.extensions["teachbox"].settings, export=False).work(burst=True)
    dataset_id = list_project_jobs(storage, status.project_id)[0].dataset_id
    sample = load_manifest(storage, status.project_id, dataset_id).samples[0]
    token_id, _ = create_token(storage, status.project_id, "alice", "laptop")
    return {"project_id": status.project_id, "job_id": status.job_id, "upload_id": status.upload_id,
            "dataset_id": dataset_id, "sha256": sample.sha256, "class_index": sample.class_index,
            "version": "v1", "token_id": token_id}


@pytest.fixture(scope="module")
def alice(app, alices):
    client = app.test_client()
    AuthActions(client).login("alice")
    return client


@pytest.fixture(scope="module")
def root(app, storage, alices):
    create_user(storage, "root", "correct-horse", is_admin=True)
    client = app.test_client()
    AuthActions(client).login("root")
    return client


@pytest.fixture(scope="module")
def bob(app):
    client = app.test_client()
    AuthActions(client).register("bob")
    return client


def _owned(rule: Rule) -> bool:
    """A rule that reaches someone's data: it takes an id, or it is an admin page."""
    return rule.endpoint.startswith("admin.") or bool(set(rule.arguments) - set(PUBLIC_ARGUMENTS))


def _rules(app, *, owned: bool) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static" and _owned(r) == owned]


def _url(rule: Rule, alices: dict) -> str:
    values = {**PUBLIC_ARGUMENTS, **alices, **ENDPOINT_VALUES.get(rule.endpoint, {})}
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.rule}: add a value of alice's for {sorted(unknown)} to the `alices` fixture"
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


def _methods(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_the_walk_finds_the_owned_routes(app):
    # A guard on the walk itself: if it found nothing, the tests below would pass vacuously.
    owned = {r.endpoint for r in _rules(app, owned=True)}
    assert {"projects.project_page", "projects.job_json", "projects.sample_image", "projects.upload_json",
            "projects.promote", "api.project", "api.job", "api.predict", "admin.dashboard"} <= owned


def test_the_owner_reaches_every_owned_page_and_an_admin_every_admin_page(app, alice, root, alices):
    """The positive control: the ids are right, so bob's 404s below are about ownership."""
    for rule in _rules(app, owned=True):
        if "GET" in rule.methods and rule.endpoint not in NOT_MADE_BY_FIXTURE:
            client = root if rule.endpoint.startswith("admin.") else alice
            with client.get(_url(rule, alices)) as response:  # closing it closes a streamed zip
                assert response.status_code in (200, 302), (rule.rule, response.status_code)


def test_another_user_gets_404_on_every_owned_route_and_method(app, bob, alices):
    token = csrf_token(bob, "/")
    for rule in _rules(app, owned=True):
        url = _url(rule, alices)
        for method in _methods(rule):
            response = bob.open(url, method=method, data={"csrf_token": token, "version": "v1"},
                                headers={"X-CSRFToken": token})
            assert response.status_code == 404, (method, url, response.status_code)


def test_a_token_of_another_project_gets_401_on_every_api_route_of_alices(app, bob, alices, storage):
    bobs_project = ProjectActions(app, bob).create_image_project("Bob's", per_class=10).project_id
    _, secret = create_token(storage, bobs_project, "bob", "script")
    anonymous = app.test_client()
    for rule in _rules(app, owned=True):
        if rule.endpoint.startswith("api.") and "project_id" in rule.arguments:
            for method in _methods(rule):
                response = anonymous.open(_url(rule, alices), method=method,
                                          headers={"Authorization": f"Bearer {secret}"})
                assert response.status_code in (401, 403), (method, rule.rule, response.status_code)


@pytest.mark.parametrize("query", ["retry={upload_id}", "project={project_id}"])
def test_another_user_gets_404_for_alices_ids_in_the_train_page_query(bob, alices, query):
    response = bob.get("/image/train?" + query.format(**alices))
    assert response.status_code == 404


def test_another_users_404_reveals_nothing_of_alices_project(bob, alices):
    page = bob.get(f"/projects/{alices['project_id']}").get_data(as_text=True)
    assert "Colours" not in page and "red" not in page


def test_every_unsafe_method_refuses_a_signed_in_admin_without_a_csrf_token(app, root, alices, storage):
    """An admin's session reaches every route, so a forged request from another site would too."""
    before = sorted(storage.list(""))
    unsafe = [(rule, method) for rule in app.url_map.iter_rules() for method in _methods(rule)
              if method in UNSAFE_METHODS]
    assert len(unsafe) >= 10
    for rule, method in unsafe:
        url = _url(rule, alices)
        response = root.open(url, method=method, data={"version": "v1", "username": "root", "password": "x"})
        assert response.status_code == 400, (method, url, response.status_code)
        assert CSRF_REFUSED in response.get_data(as_text=True), url
    assert sorted(storage.list("")) == before


def test_every_page_carries_the_security_headers(app, root, alices):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        with root.get(_url(rule, alices)) as response:
            headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, rule.rule
        assert "frame-ancestors 'none'" in policy, rule.rule
        assert headers["X-Content-Type-Options"] == "nosniff", rule.rule


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
