"""The OpenAPI document is a valid OpenAPI 3.1 description of exactly the routes that exist, and
real answers of every documented kind match its schemas (checked with openapi-core)."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from tests.api.conftest import SignedIn, World, bearer, shape_png
from webapp.api.errors import API_PREFIX


def _document(client: FlaskClient) -> dict:
    return client.get(f"{API_PREFIX}/openapi.json").json


def _routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(f"{API_PREFIX}/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API_PREFIX))
            found |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    validate(_document(client))


def test_every_documented_operation_is_a_real_route_and_every_route_is_documented(
    client: FlaskClient, world: World
) -> None:
    documented = {(path, method) for path, item in _document(client)["paths"].items() for method in item}
    assert documented == _routes(world.app)


@pytest.fixture(scope="module")
def openapi(world: World) -> OpenAPI:
    return OpenAPI.from_dict(world.app.test_client().get(f"{API_PREFIX}/openapi.json").json)


def _conforms(openapi: OpenAPI, response: TestResponse) -> TestResponse:
    """Raises if the answer's status, media type or body is not what the document says."""
    # The operation is found from method and path; the request body was consumed by the app.
    sent = Request(EnvironBuilder(method=response.request.method, path=response.request.path,
                                  base_url=response.request.host_url).get_environ())
    openapi.validate_response(WerkzeugOpenAPIRequest(sent), WerkzeugOpenAPIResponse(response))
    return response


def _project(world: World) -> str:
    return f"{API_PREFIX}/projects/{world.trained.id}"


def test_project_details_and_versions_match_the_document(
    client: FlaskClient, world: World, openapi: OpenAPI
) -> None:
    details = _conforms(openapi, client.get(_project(world), headers=bearer(world.token)))
    assert details.json["current_version"] == world.version
    assert details.json["metrics"]["accuracy"] == details.json["versions"][0]["accuracy"]
    version = _conforms(openapi, client.get(details.json["versions"][0]["url"], headers=bearer(world.token)))
    assert {f["name"] for f in version.json["exports"]} == {
        "model.onnx", "model.torchscript.pt", "classes.txt", "README.md"}


def test_predictions_match_the_document(client: FlaskClient, world: World, openapi: OpenAPI) -> None:
    response = _conforms(openapi, client.post(
        f"{_project(world)}/predict", headers=bearer(world.token),
        data={"image": (io.BytesIO(shape_png("circle", 9)), "c.png")}, content_type="multipart/form-data"))
    assert response.json["predictions"][0]["label"] in ("circle", "square")


def test_upload_train_and_job_answers_match_the_document(
    client: FlaskClient, world: World, openapi: OpenAPI
) -> None:
    accepted = _conforms(openapi, client.post(
        f"{_project(world)}/examples", headers=bearer(world.token),
        data={"examples[circle]": (io.BytesIO(shape_png("circle", 11)), "c.png")},
        content_type="multipart/form-data"))
    world.app.extensions["teachbox"].invoker.wait(timeout=120)
    upload = _conforms(openapi, client.get(accepted.json["status_url"], headers=bearer(world.token)))
    assert upload.json["state"] == "queued", upload.json
    job = _conforms(openapi, client.get(upload.json["job_url"], headers=bearer(world.token)))
    assert job.json["state"] == "queued"
    queued = _conforms(openapi, client.post(f"{_project(world)}/train", headers=bearer(world.token)))
    assert queued.headers["Location"] == queued.json["status_url"]


def test_token_answers_match_the_document(world: World, alice: SignedIn, openapi: OpenAPI) -> None:
    created = _conforms(openapi, alice.client.post(f"{_project(world)}/tokens", headers=alice.headers(),
                                                   json={"name": "schema check"}))
    listed = _conforms(openapi, alice.client.get(f"{_project(world)}/tokens"))
    assert created.json["token_id"] in [t["token_id"] for t in listed.json["tokens"]]
    _conforms(openapi, alice.client.delete(f"{_project(world)}/tokens/{created.json['token_id']}",
                                           headers=alice.headers()))


def test_a_new_project_matches_the_document(world: World, alice: SignedIn, openapi: OpenAPI) -> None:
    response = _conforms(openapi, alice.client.post(f"{API_PREFIX}/projects", headers=alice.headers(),
                                                    json={"name": "Moods", "kind": "text",
                                                          "class_names": ["happy", "sad"]}))
    assert response.json["current_version"] is None


@pytest.mark.parametrize("status, call", [
    (400, lambda c, w: c.post(f"{_project(w)}/predict", headers=bearer(w.token), json={"nothing": 1})),
    (401, lambda c, w: c.get(_project(w))),
    (403, lambda c, w: c.get(f"{_project(w)}/tokens", headers=bearer(w.token))),
    (404, lambda c, w: c.get(f"{_project(w)}/jobs/0000000000000000", headers=bearer(w.token))),
    (409, lambda c, w: c.post(f"{API_PREFIX}/projects/{w.other.id}/train", headers=bearer(w.other_token))),
])
def test_errors_match_the_documented_error_schema(
    client: FlaskClient, world: World, openapi: OpenAPI, status: int, call
) -> None:
    response = _conforms(openapi, call(client, world))
    assert response.status_code == status
