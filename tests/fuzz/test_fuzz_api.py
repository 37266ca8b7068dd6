"""Any JSON (or not-JSON) body sent to the REST API ends in a 2xx or a 4xx with a sentence,
never a 500: creating a project, adding examples, training and predicting."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from teachbox.projects import create_project
from teachbox.settings import load_settings
from teachbox.tokens import create_token
from teachbox.users import create_user
from tests.fuzz.test_fuzz_inputs import JSON, damaged_images
from webapp import create_app

FUZZ = hypothesis_settings(max_examples=120, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEYS = ["name", "kind", "class_names", "text", "image_b64", "examples", "top_k", "version", "class",
        "texts", "images", "options", "augment"]


@pytest.fixture(scope="module")
def api(tmp_path_factory, cache_dir):
    """An app on a real folder, alice's text project and a token for it."""
    data = tmp_path_factory.mktemp("api-fuzz")
    app = create_app(load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                                   secret_key="fuzz"))
    storage = app.extensions["teachbox"].storage
    create_user(storage, "alice", "correct-horse")
    project = create_project(storage, "alice", "Moods", "text", ["happy", "sad"])
    _, secret = create_token(storage, project.id, "alice", "fuzz")
    yield app, project.id, {"Authorization": f"Bearer {secret}"}
    app.extensions["teachbox"].invoker.wait(timeout=60)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    shaped = draw(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5))
    if draw(st.booleans()):
        shaped["image_b64"] = base64.b64encode(draw(damaged_images())).decode()
    value = draw(st.one_of(st.just(shaped), JSON))
    return draw(st.one_of(st.just(json.dumps(value).encode()), st.binary(max_size=100)))


def _assert_answered(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        assert response.get_json()["message"]


@FUZZ
@given(st.sampled_from(["predict", "examples", "train"]), bodies())
def test_token_calls_with_any_body_end_in_an_answer_or_a_sentence(api, route: str, body: bytes) -> None:
    app, project_id, token = api
    response = app.test_client().post(f"/api/v1/projects/{project_id}/{route}", data=body,
                                      content_type="application/json", headers=token)
    _assert_answered(response)


@FUZZ
@given(bodies())
def test_creating_a_project_with_any_body_ends_in_a_project_or_a_sentence(api, body: bytes) -> None:
    app, _, _ = api
    client = app.test_client()
    with client.session_transaction() as session:
        session["username"] = "alice"
        session["csrf_token"] = "fuzz-csrf"
    app.config["WTF_CSRF_ENABLED"] = False  # the session is forged here; CSRF has its own tests
    try:
        response = client.post("/api/v1/projects", data=body, content_type="application/json")
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    _assert_answered(response)
