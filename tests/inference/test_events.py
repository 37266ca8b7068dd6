"""Parsing Function URL events: JSON bodies and multipart/form-data uploads as clients send them."""

from __future__ import annotations

import base64
import json

import pytest
from urllib3 import encode_multipart_formdata

from lambda_infer.events import parse_http_event, parse_payload
from teachbox.errors import BadRequest
from teachbox.settings import Settings
from tests.inference.conftest import function_url_event, png_bytes

PATH = "/projects/0123456789abcdef/predict"
AUTH = {"Authorization": "Bearer tb_secret"}


def _multipart_event(fields: list[tuple]) -> dict:
    body, content_type = encode_multipart_formdata(fields)
    return function_url_event(PATH, body, headers={**AUTH, "Content-Type": content_type})


def test_multipart_image_files_become_inputs_in_order(settings: Settings) -> None:
    circle, square = png_bytes("circle"), png_bytes("square")
    event = _multipart_event([("image", ("a.png", circle, "image/png")),
                              ("image", ("b.png", square, "image/png")), ("top_k", "1")])

    parsed = parse_http_event(event, settings)

    assert parsed.token == "tb_secret"
    assert parsed.request.project_id == "0123456789abcdef"
    assert parsed.request.inputs == [circle, square]
    assert parsed.request.top_k == 1


def test_multipart_text_fields_become_text_inputs(settings: Settings) -> None:
    event = _multipart_event([("text", "what a day"), ("text", "très bien")])

    assert parse_http_event(event, settings).request.inputs == ["what a day", "très bien"]


def test_multipart_without_files_or_text_is_refused(settings: Settings) -> None:
    event = _multipart_event([("top_k", "2")])

    with pytest.raises(BadRequest, match="The form has no image file and no 'text' field; attach an image"):
        parse_http_event(event, settings)


def test_a_json_body_sent_as_plain_text_is_read(settings: Settings) -> None:
    # API Gateway HTTP APIs pass JSON bodies unencoded.
    event = function_url_event(PATH, headers={**AUTH, "Content-Type": "application/json; charset=utf-8"})
    event["body"], event["isBase64Encoded"] = json.dumps({"texts": ["a", "b"], "top_k": 2}), False

    request = parse_http_event(event, settings).request

    assert (request.inputs, request.top_k) == (["a", "b"], 2)


def test_a_data_url_is_accepted_as_image_b64(settings: Settings) -> None:
    image = png_bytes()
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()

    request = parse_payload({"project_id": "p", "inputs": [{"image_b64": data_url}]}, settings)

    assert request.inputs == [image]


def test_invalid_base64_names_the_input(settings: Settings) -> None:
    payload = {"project_id": "p", "inputs": [{"text": "x"}, {"image_b64": "%%%"}]}

    with pytest.raises(BadRequest, match="Input 2: image_b64 is not valid base64; send the file's bytes"):
        parse_payload(payload, settings)


def test_an_input_without_image_or_text_is_named(settings: Settings) -> None:
    with pytest.raises(BadRequest, match='Input 1 has neither "image_b64" nor "text"; send one of them.'):
        parse_payload({"project_id": "p", "inputs": [{"image": "x"}]}, settings)


@pytest.mark.parametrize("top_k", [0, -1, "two", True, 1.5])
def test_top_k_must_be_a_positive_whole_number(settings: Settings, top_k: object) -> None:
    with pytest.raises(BadRequest, match="top_k must be a whole number of at least 1."):
        parse_payload({"project_id": "p", "inputs": [{"text": "x"}], "top_k": top_k}, settings)


def test_a_payload_without_project_id_is_refused(settings: Settings) -> None:
    with pytest.raises(BadRequest, match='"project_id" is missing; say which project should answer.'):
        parse_payload({"inputs": [{"text": "x"}]}, settings)


def test_top_k_and_version_may_come_from_the_query_string(settings: Settings) -> None:
    event = function_url_event(PATH, json.dumps({"text": "hello"}),
                               headers={**AUTH, "Content-Type": "application/json"},
                               query={"top_k": "2", "version": "v3"})

    request = parse_http_event(event, settings).request

    assert (request.top_k, request.version) == (2, "v3")
