"""Every API error is {"error": code, "message": sentence} with the right status, and bad input
is refused with a sentence naming the field and the fix, storing nothing."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from teachbox.projects import create_project
from teachbox.settings import load_settings
from teachbox.tokens import create_token
from tests.api.conftest import SignedIn, World, bearer, shape_png
from webapp import create_app


def _project(world: World) -> str:
    return f"/api/v1/projects/{world.trained.id}"


def _staged_uploads(world: World) -> set[str]:
    return {key.split("/")[1] for key in world.storage.list("staging/")} | {
        key for key in world.storage.list("uploads/")}


def test_an_unknown_api_path_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json == {"error": "not_found",
                             "message": "There is nothing here, or it belongs to someone else."}


def test_a_wrong_method_is_a_json_405(client: FlaskClient, world: World) -> None:
    response = client.put(_project(world), headers=bearer(world.token))
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"


def test_an_upload_over_the_size_limit_is_a_json_413(tmp_path: Path, cache_dir: Path) -> None:
    settings = load_settings(env={}, storage=f"file://{tmp_path}", cache_dir=str(cache_dir),
                             secret_key="s", max_upload_bytes=1024)
    app = create_app(settings)
    storage = app.extensions["teachbox"].storage
    project = create_project(storage, "alice", "Small", "image", ["a", "b"])
    _, token = create_token(storage, project.id, "alice", "ci")
    response = app.test_client().post(f"/api/v1/projects/{project.id}/examples", headers=bearer(token),
                           data={"examples[a]": (io.BytesIO(b"x" * 4096), "a.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"
    assert "This upload is too large" in response.json["message"]
    assert storage.list("staging/") == []


def test_a_body_that_is_not_a_json_object_is_refused(world: World, alice: SignedIn) -> None:
    response = alice.client.post("/api/v1/projects", headers=alice.headers(), data="[1, 2]",
                                 content_type="application/json")
    assert response.status_code == 400
    assert response.json["message"] == ("Send a JSON object as the body, with "
                                        "'Content-Type: application/json'.")


@pytest.mark.parametrize("body, sentence", [
    ({"name": "X", "kind": "image", "class_names": "cat"}, '"class_names" must be a list of class names'),
    ({"name": "X", "kind": "image", "class_names": ["cat"]},
     'An image project needs 2 to 10 classes; "class_names" has 1.'),
    ({"name": "X", "kind": "audio", "class_names": ["a", "b"]}, "Unknown project kind 'audio'"),
    ({"name": "", "kind": "text", "class_names": ["a", "b"]}, "Give the project a name."),
    ({"name": "X", "kind": "text", "class_names": ["a", "A"]}, "two classes share the name"),
])
def test_a_new_project_with_bad_fields_is_refused_naming_the_field(
    world: World, alice: SignedIn, body: dict, sentence: str
) -> None:
    before = world.storage.list("owners/alice/")
    response = alice.client.post("/api/v1/projects", headers=alice.headers(), json=body)
    assert response.status_code == 400
    assert sentence in response.json["message"]
    assert world.storage.list("owners/alice/") == before


@pytest.mark.parametrize("data, sentence", [
    ({"photos": (io.BytesIO(b"x"), "a.png")}, "Unknown form field 'photos': name each example part "
     "'examples[<class name>]'"),
    ({"examples[circle]": "a line of text"}, "Field 'examples[circle]' holds text, but this is an "
     "image project"),
    ({"augment": "true"}, "Send examples as multipart/form-data parts named 'examples[<class name>]'"),
])
def test_examples_in_the_wrong_shape_are_refused_before_anything_is_staged(
    client: FlaskClient, world: World, data: dict, sentence: str
) -> None:
    before = _staged_uploads(world)
    response = client.post(f"{_project(world)}/examples", headers=bearer(world.token), data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert sentence in response.json["message"]
    assert _staged_uploads(world) == before


def test_examples_sent_as_json_are_refused_with_the_multipart_shape(
    client: FlaskClient, world: World
) -> None:
    response = client.post(f"{_project(world)}/examples", headers=bearer(world.token), json={"a": 1})
    assert response.status_code == 400
    assert "multipart/form-data" in response.json["message"]


def test_a_rejected_upload_reports_every_problem_in_its_status(client: FlaskClient, world: World) -> None:
    response = client.post(f"{_project(world)}/examples", headers=bearer(world.token), data={
        "examples[triangle]": [(io.BytesIO(shape_png("square", 40)), "t1.png"),
                               (io.BytesIO(b"not an image"), "broken.png")],
    }, content_type="multipart/form-data")
    assert response.status_code == 202
    world.app.extensions["teachbox"].invoker.wait(timeout=120)
    status = client.get(response.json["status_url"], headers=bearer(world.token)).json
    assert status["state"] == "rejected"
    messages = [p["message"] for p in status["problems"]]
    assert any("broken.png" in m for m in messages), messages
    assert any("Class 'triangle'" in m and "at least" in m for m in messages), messages


def test_predict_without_an_input_names_both_shapes(client: FlaskClient, world: World) -> None:
    response = client.post(f"{_project(world)}/predict", headers=bearer(world.token), json={"top_k": 2})
    assert response.status_code == 400
    assert response.json["message"].startswith('Send "text" (a string or a list) or "image_b64"')


def test_predict_text_on_an_image_project_says_to_send_images(client: FlaskClient, world: World) -> None:
    response = client.post(f"{_project(world)}/predict", headers=bearer(world.token), json={"text": "hi"})
    assert response.status_code == 400
    assert response.json["message"] == ("This project classifies images; send images (image_b64 or files), "
                                        "not text.")


def test_predict_on_a_project_without_a_model_is_404(client: FlaskClient, world: World) -> None:
    response = client.post(f"/api/v1/projects/{world.other.id}/predict", headers=bearer(world.other_token),
                           json={"image_b64": base64.b64encode(shape_png("circle", 1)).decode()})
    assert response.status_code == 404
    assert response.json["message"] == "This project has no trained model yet; train it first."


def test_an_export_that_does_not_exist_names_the_ones_that_do(client: FlaskClient, world: World) -> None:
    response = client.get(f"{_project(world)}/versions/{world.version}/exports/model.pkl",
                          headers=bearer(world.token))
    assert response.status_code == 404
    assert response.json["message"] == (f"Model {world.version} has no export called 'model.pkl'; choose one "
                                        "of: model.onnx, model.torchscript.pt, classes.txt, README.md.")


def test_an_unknown_version_is_404(client: FlaskClient, world: World) -> None:
    response = client.get(f"{_project(world)}/versions/v99", headers=bearer(world.token))
    assert response.status_code == 404
    assert response.json["message"] == "No model version 'v99' in this project."


def test_training_a_project_without_examples_is_409(client: FlaskClient, world: World) -> None:
    response = client.post(f"/api/v1/projects/{world.other.id}/train", headers=bearer(world.other_token))
    assert response.status_code == 409
    assert response.json["message"].startswith("This project has no examples to train on yet")


def test_a_token_without_a_name_is_refused(world: World, alice: SignedIn) -> None:
    response = alice.client.post(f"{_project(world)}/tokens", headers=alice.headers(), json={"name": " "})
    assert response.status_code == 400
    assert response.json["message"] == "Give the token a name, such as the program that will use it."
