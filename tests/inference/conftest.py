"""Fixtures for the inference tests: Function URL events, the Lambda handler on test storage."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import lambda_infer.handler as handler_module
from teachbox.projects import Project, create_project
from teachbox.settings import Settings
from teachbox.storage import Storage


def function_url_event(
    path: str,
    body: bytes | str = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict:
    """A Lambda Function URL event (payload format 2.0), as AWS documents it."""
    raw = body.encode() if isinstance(body, str) else body
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"host": "abc123.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0",
                    **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795600800000,
        },
        # Function URLs base64-encode every body that is not text.
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }
    if query:
        event["queryStringParameters"] = query
    return event


def json_event(project_id: str, body: dict, token: str | None = None, **kwargs) -> dict:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return function_url_event(f"/projects/{project_id}/predict", json.dumps(body),
                              headers=headers, **kwargs)


def response_json(response: dict) -> dict:
    assert response["headers"] == {"content-type": "application/json"}
    return json.loads(response["body"])


def png_bytes(shape: str = "circle", size: int = 96, color: str = "red") -> bytes:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    box = (size // 5, size // 5, size - size // 5, size - size // 5)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def lambda_handler(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict], dict]:
    """``handler(event, None)`` of a fresh Lambda container whose environment points at the
    test's storage folder."""
    monkeypatch.setenv("TEACHBOX_STORAGE", settings.storage)
    monkeypatch.setenv("TEACHBOX_CACHE_DIR", settings.cache_dir)
    monkeypatch.setattr(handler_module, "_state", None)
    return lambda event: handler_module.handler(event, None)


@pytest.fixture
def image_project(storage: Storage) -> Project:
    return create_project(storage, "alice", "Shapes", "image", ["circle", "square"])


@pytest.fixture
def text_project(storage: Storage) -> Project:
    return create_project(storage, "alice", "Moods", "text", ["happy", "sad"])


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return Path(settings.storage[len("file://"):])
