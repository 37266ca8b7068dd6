"""Who may call what: every endpoint with a valid token, a revoked token, another project's token
and no token at all, then the site session of the owner, of someone else, and without CSRF."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.conftest import SignedIn, World, bearer, shape_png


@dataclass(frozen=True)
class Call:
    """One endpoint: how to call it on the trained project, and what a valid token gets."""

    name: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict]
    token_status: int  # with the project's own live token
    session_status: int  # with its owner's session (and CSRF header)


def _upload_id(world: World) -> str:
    """An upload of the trained project, made once through the API (the token path)."""
    if not hasattr(world, "upload_id"):
        response = world.app.test_client().post(
            f"/api/v1/projects/{world.trained.id}/examples", headers=bearer(world.token),
            data={"examples[circle]": (io.BytesIO(shape_png("circle", 1)), "c.png")},
            content_type="multipart/form-data")
        assert response.status_code == 202, response.json
        world.upload_id = response.json["upload_id"]  # type: ignore[attr-defined]
    return world.upload_id  # type: ignore[attr-defined]


def _image_form(world: World) -> dict:
    return {"data": {"image": (io.BytesIO(shape_png("square", 3)), "s.png")},
            "content_type": "multipart/form-data"}


def _examples_form(world: World) -> dict:
    return {"data": {"examples[square]": (io.BytesIO(shape_png("square", 5)), "s.png")},
            "content_type": "multipart/form-data"}


def _archive_form(world: World) -> dict:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("circle/c.png", shape_png("circle", 6))
    buffer.seek(0)
    return {"data": {"archive": (buffer, "photos.zip")}, "content_type": "multipart/form-data"}


def _p(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/projects/{w.trained.id}{suffix}"


CALLS = [
    Call("details", "GET", _p(), lambda w: {}, 200, 200),
    Call("version", "GET", lambda w: f"{_p()(w)}/versions/{w.version}", lambda w: {}, 200, 200),
    Call("export", "GET", lambda w: f"{_p()(w)}/versions/{w.version}/exports/classes.txt",
         lambda w: {}, 200, 200),
    Call("examples", "POST", _p("/examples"), _examples_form, 202, 202),
    Call("examples archive", "POST", _p("/examples/archive"), _archive_form, 202, 202),
    Call("project export", "GET", _p("/export"), lambda w: {}, 200, 200),
    Call("upload status", "GET", lambda w: f"{_p()(w)}/uploads/{_upload_id(w)}", lambda w: {}, 200, 200),
    Call("train", "POST", _p("/train"), lambda w: {}, 202, 202),
    Call("job", "GET", lambda w: f"{_p()(w)}/jobs/{w.job_id}", lambda w: {}, 200, 200),
    Call("predict", "POST", _p("/predict"), _image_form, 200, 200),
    Call("list tokens", "GET", _p("/tokens"), lambda w: {}, 403, 200),
    Call("create token", "POST", _p("/tokens"), lambda w: {"json": {"name": "made in a test"}}, 403, 201),
    Call("revoke token", "DELETE", _p("/tokens/0123456789abcdef"), lambda w: {}, 403, 404),
    Call("create project", "POST", lambda w: "/api/v1/projects",
         lambda w: {"json": {"name": "New", "kind": "text", "class_names": ["a", "b"]}}, 403, 201),
]
IDS = [c.name for c in CALLS]


def _call(client: FlaskClient, world: World, call: Call, headers: dict[str, str]) -> TestResponse:
    # buffered: read the whole answer and close it, as a server does (downloads are streamed files)
    return client.open(call.path(world), method=call.method, headers=headers, buffered=True,
                       **call.body(world))


def _credentials(world: World, which: str) -> dict[str, str]:
    return {"valid": bearer(world.token), "revoked": bearer(world.revoked),
            "other project's": bearer(world.other_token), "no": {}}[which]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_the_projects_own_token_is_accepted_except_where_only_the_site_session_may_act(
    client: FlaskClient, world: World, call: Call
) -> None:
    response = _call(client, world, call, bearer(world.token))
    assert response.status_code == call.token_status, response.json
    if call.token_status == 403:
        assert "signed in on the site" in response.json["message"]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
@pytest.mark.parametrize("which", ["revoked", "other project's"])
def test_a_revoked_or_another_projects_token_is_refused(
    client: FlaskClient, world: World, call: Call, which: str
) -> None:
    response = _call(client, world, call, _credentials(world, which))
    if call.name == "create project":  # no project to check a token against: any token is refused
        assert response.status_code == 403
        return
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert "not valid for this project" in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_no_credentials_is_401_naming_both_ways_to_authenticate(
    client: FlaskClient, world: World, call: Call
) -> None:
    response = _call(client, world, call, {})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized", "message": response.json["message"]}
    assert "Authorization: Bearer" in response.json["message"]
    assert "sign in" in response.json["message"]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_the_owners_session_may_call_everything(world: World, alice: SignedIn, call: Call) -> None:
    response = _call(alice.client, world, call, alice.headers())
    assert response.status_code == call.session_status, response.json


@pytest.mark.parametrize("call", [c for c in CALLS if c.name != "create project"],
                         ids=[n for n in IDS if n != "create project"])
def test_another_users_session_gets_404_as_on_the_site(world: World, bob: SignedIn, call: Call) -> None:
    response = _call(bob.client, world, call, bob.headers())
    assert response.status_code == 404
    assert response.json == {"error": "not_found", "message": "No such project."}


@pytest.mark.parametrize("call", [c for c in CALLS if c.method != "GET"],
                         ids=[c.name for c in CALLS if c.method != "GET"])
def test_a_session_call_that_changes_something_needs_the_csrf_header(
    world: World, alice: SignedIn, call: Call
) -> None:
    response = _call(alice.client, world, call, {})
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"
    assert "did not come from this site" in response.json["message"]


def test_a_bearer_token_needs_no_csrf_header(client: FlaskClient, world: World) -> None:
    response = client.post(f"/api/v1/projects/{world.trained.id}/predict", headers=bearer(world.token),
                           json={"image_b64": []})
    assert response.status_code == 400  # reached the view: the body is what is wrong, not CSRF
    assert "string or a list of strings" in response.json["message"]


def test_an_authorization_header_of_another_scheme_is_refused(client: FlaskClient, world: World) -> None:
    response = client.get(f"/api/v1/projects/{world.trained.id}", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 401
    assert response.json["message"] == "Use 'Authorization: Bearer <token>'; other schemes are not accepted."


def test_a_token_for_an_unknown_project_id_is_401_not_404(client: FlaskClient, world: World) -> None:
    """A token never tells whether some other project id exists."""
    response = client.get("/api/v1/projects/ffffffffffffffff", headers=bearer(world.token))
    assert response.status_code == 401


def test_the_openapi_document_needs_no_credentials(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 200
