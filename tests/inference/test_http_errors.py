"""Every error a program calling the Function URL can get: status, JSON body, exact sentence.

These need no trained model: each request is refused before a model would be used.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from teachbox.projects import Project
from teachbox.storage import Storage
from teachbox.tokens import create_token, revoke_token
from tests.inference.conftest import function_url_event, json_event, png_bytes, response_json

Handler = Callable[[dict], dict]


@pytest.fixture
def token(storage: Storage, image_project: Project) -> str:
    return create_token(storage, image_project.id, "alice", "tests")[1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _assert_error(response: dict, status: int, error: str, message: str) -> None:
    assert response["statusCode"] == status
    assert response_json(response) == {"error": error, "message": message}


def test_no_token_is_401(lambda_handler: Handler, image_project: Project) -> None:
    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(png_bytes())}))

    _assert_error(response, 401, "unauthorized",
                  "Send this project's API token as 'Authorization: Bearer <token>'; "
                  "create one on the project's API page.")


def test_a_wrong_token_is_403(lambda_handler: Handler, image_project: Project, token: str) -> None:
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = lambda_handler(json_event(image_project.id, {"text": "hi"}, token=wrong))

    _assert_error(response, 403, "forbidden",
                  "This API token is not valid for this project; it may have been revoked.")


def test_another_projects_token_is_403(
    lambda_handler: Handler, storage: Storage, image_project: Project, text_project: Project
) -> None:
    _, other = create_token(storage, text_project.id, "alice", "text project's token")

    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(png_bytes())}, token=other))

    _assert_error(response, 403, "forbidden",
                  "This API token is not valid for this project; it may have been revoked.")


def test_a_revoked_token_is_403(lambda_handler: Handler, storage: Storage, image_project: Project) -> None:
    token_id, secret = create_token(storage, image_project.id, "alice", "old script")
    revoke_token(storage, image_project.id, token_id)

    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(png_bytes())}, token=secret))

    _assert_error(response, 403, "forbidden",
                  "This API token is not valid for this project; it may have been revoked.")


def test_an_unknown_project_is_404(lambda_handler: Handler, token: str) -> None:
    response = lambda_handler(json_event("0123456789abcdef", {"text": "hi"}, token=token))

    _assert_error(response, 404, "not_found", "No such project.")


def test_a_project_without_a_trained_model_is_404(
    lambda_handler: Handler, image_project: Project, token: str
) -> None:
    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(png_bytes())}, token=token))

    _assert_error(response, 404, "not_found", "This project has no trained model yet; train it first.")


def test_an_unreadable_image_is_400_naming_the_input(
    lambda_handler: Handler, image_project: Project, token: str
) -> None:
    inputs = [{"image_b64": _b64(png_bytes())}, {"image_b64": _b64(b"this is not an image")}]

    response = lambda_handler(json_event(image_project.id, {"inputs": inputs}, token=token))

    _assert_error(response, 400, "bad_request",
                  "Input 2 is not a readable image (JPEG, PNG, WebP, GIF or BMP).")


def test_an_image_in_an_unaccepted_format_is_400(
    lambda_handler: Handler, image_project: Project, token: str
) -> None:
    import io

    from PIL import Image

    tiff = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(tiff, format="TIFF")

    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(tiff.getvalue())}, token=token))

    _assert_error(response, 400, "bad_request",
                  "Input 1 is not a readable image (JPEG, PNG, WebP, GIF or BMP).")


def test_empty_text_is_400_naming_the_input(
    lambda_handler: Handler, image_project: Project, token: str
) -> None:
    response = lambda_handler(json_event(image_project.id, {"texts": ["fine", "   "]}, token=token))

    _assert_error(response, 400, "bad_request", "Input 2 is empty text; type something to classify.")


def test_an_image_over_the_limit_is_413_naming_it(
    lambda_handler: Handler, image_project: Project, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEACHBOX_IMAGE_MAX_BYTES", str(1024 * 1024))
    big = png_bytes() + b"\0" * (1024 * 1024)

    response = lambda_handler(json_event(image_project.id, {"image_b64": _b64(big)}, token=token))

    _assert_error(response, 413, "payload_too_large", "Input 1 is over 1 MiB; images may be at most 1 MiB.")


def test_a_text_over_the_limit_is_413_naming_it(
    lambda_handler: Handler, image_project: Project, token: str
) -> None:
    response = lambda_handler(json_event(image_project.id, {"text": "a" * 5001}, token=token))

    _assert_error(response, 413, "payload_too_large",
                  "Input 1 is 5,001 characters long; texts may be at most 5,000.")


def test_more_than_32_inputs_is_413(lambda_handler: Handler, image_project: Project, token: str) -> None:
    response = lambda_handler(json_event(image_project.id, {"texts": ["hi"] * 33}, token=token))

    _assert_error(response, 413, "payload_too_large",
                  "Send at most 32 inputs per request; this one has 33. Split it into batches.")


def test_a_body_that_is_not_json_is_400(lambda_handler: Handler, image_project: Project, token: str) -> None:
    event = function_url_event(f"/projects/{image_project.id}/predict", b"{not json",
                               headers={"Content-Type": "application/json",
                                        "Authorization": f"Bearer {token}"})

    _assert_error(lambda_handler(event), 400, "bad_request", "The request body is not valid JSON.")


def test_an_unknown_content_type_is_400(lambda_handler: Handler, image_project: Project, token: str) -> None:
    event = function_url_event(f"/projects/{image_project.id}/predict", b"hello",
                               headers={"Content-Type": "text/plain", "Authorization": f"Bearer {token}"})

    _assert_error(lambda_handler(event), 400, "bad_request",
                  "Send the body as application/json or multipart/form-data.")


def test_get_is_405(lambda_handler: Handler, image_project: Project, token: str) -> None:
    event = function_url_event(f"/projects/{image_project.id}/predict", method="GET",
                               headers={"Authorization": f"Bearer {token}"})

    _assert_error(lambda_handler(event), 405, "method_not_allowed", "Use POST to ask for predictions.")


def test_an_unknown_path_is_404(lambda_handler: Handler, token: str) -> None:
    event = function_url_event("/admin", headers={"Authorization": f"Bearer {token}"})

    _assert_error(lambda_handler(event), 404, "not_found",
                  "No such endpoint; POST to /projects/<project_id>/predict.")


def test_a_direct_invocation_error_comes_back_as_an_error_payload(
    lambda_handler: Handler, image_project: Project
) -> None:
    payload = {"project_id": image_project.id, "inputs": [{"text": ""}]}

    assert lambda_handler(payload) == {
        "ok": False, "status": 400, "error": "bad_request",
        "message": "Input 1 is empty text; type something to classify.",
    }


@pytest.mark.parametrize("project_id", ["0123456789abcdef", "../../users/alice"])
def test_asking_an_unknown_project_for_a_named_version_is_404(
    lambda_handler: Handler, project_id: str
) -> None:
    payload = {"project_id": project_id, "inputs": [{"text": "hi"}], "version": "v1"}

    assert lambda_handler(payload) == {"ok": False, "status": 404, "error": "not_found",
                                       "message": "No such project."}
