"""Predict through the API: images as multipart files or base64 JSON, texts as a JSON string or
list; the answer is the inference step's, for the current or a named version."""

from __future__ import annotations

import base64
import io

import pytest
from flask.testing import FlaskClient

from tests.api.conftest import World, bearer, shape_png


def _predict(client: FlaskClient, world: World, project_id: str, token: str, **body):
    response = client.post(f"/api/v1/projects/{project_id}/predict", headers=bearer(token), **body)
    assert response.status_code == 200, response.json
    return response.json


def test_an_image_file_and_the_same_image_in_base64_get_the_same_answer(
    client: FlaskClient, world: World
) -> None:
    photo = shape_png("circle", 500)
    as_file = _predict(client, world, world.trained.id, world.token, content_type="multipart/form-data",
                       data={"image": (io.BytesIO(photo), "p.png")})
    as_json = _predict(client, world, world.trained.id, world.token,
                       json={"image_b64": base64.b64encode(photo).decode()})
    assert as_file["predictions"] == as_json["predictions"]
    assert as_file["version"] == world.version
    assert as_file["kind"] == "image"


def test_several_image_files_get_one_answer_each_in_order(client: FlaskClient, world: World) -> None:
    photos = [shape_png("circle", 510), shape_png("square", 511), shape_png("circle", 512)]
    answer = _predict(client, world, world.trained.id, world.token, content_type="multipart/form-data",
                      data={"image": [(io.BytesIO(p), f"{n}.png") for n, p in enumerate(photos)]})
    singles = [_predict(client, world, world.trained.id, world.token,
                        json={"image_b64": base64.b64encode(p).decode()})["predictions"][0] for p in photos]
    assert [p["label"] for p in answer["predictions"]] == [p["label"] for p in singles]
    # A batch runs the backbone on all images at once: the same numbers up to float rounding.
    assert [p["confidence"] for p in answer["predictions"]] == pytest.approx(
        [p["confidence"] for p in singles], abs=1e-4)


def test_a_text_string_and_a_list_of_texts(client: FlaskClient, world: World) -> None:
    one = _predict(client, world, world.texts.id, world.text_token,
                   json={"text": "The striker scored in the final after a tense overtime."})
    assert one["kind"] == "text"
    assert one["predictions"][0]["label"] == "sport"
    many = _predict(client, world, world.texts.id, world.text_token, json={"text": [
        "Stir the soup with garlic for ten minutes.", "Expect heavy rain with strong gusts tonight."]})
    assert [p["label"] for p in many["predictions"]] == ["cooking", "weather"]


def test_top_k_limits_the_labels_of_each_answer(client: FlaskClient, world: World) -> None:
    answer = _predict(client, world, world.texts.id, world.text_token, json={"text": "rain", "top_k": 2})
    assert len(answer["predictions"][0]["top"]) == 2


def test_text_fields_in_a_form_are_texts(client: FlaskClient, world: World) -> None:
    answer = _predict(client, world, world.texts.id, world.text_token, content_type="multipart/form-data",
                      data={"text": ["Bake the pie until the butter is golden.", "Fog over the north coast."],
                            "top_k": "1"})
    assert [p["label"] for p in answer["predictions"]] == ["cooking", "weather"]
    assert all(len(p["top"]) == 1 for p in answer["predictions"])


def test_a_named_version_that_does_not_exist_is_404(client: FlaskClient, world: World) -> None:
    response = client.post(f"/api/v1/projects/{world.texts.id}/predict", headers=bearer(world.text_token),
                           json={"text": "hello", "version": "v9"})
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
