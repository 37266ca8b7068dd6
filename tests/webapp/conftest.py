"""Web app fixtures in the shape of Flask's flaskr tutorial: app, client, and small actions.

The app runs on a real folder (the ``settings`` fixture) with the real preprocess handler
behind the local invoker; CSRF stays on, so the actions read the token from the page as a
browser would.
"""

from __future__ import annotations

import io
import random
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from teachbox.settings import Settings
from teachbox.uploads import UploadStatus, get_upload_status
from webapp import create_app

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def make_image(seed: int, color: tuple[int, int, int], size: int = 32) -> bytes:
    """A small PNG: a solid colour with a little noise, so every file has its own hash."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), color)
    for _ in range(12):
        image.putpixel((rng.randrange(size), rng.randrange(size)),
                       tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


COLOURS = [(220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 230, 30), (200, 30, 200),
           (30, 200, 200), (120, 60, 10), (250, 150, 20), (90, 90, 90), (250, 250, 250)]


def class_images(class_index: int, count: int) -> list[tuple[str, bytes]]:
    return [(f"img{class_index}_{n:03d}.png", make_image(class_index * 1000 + n, COLOURS[class_index]))
            for n in range(count)]


@pytest.fixture
def app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def register(self, username: str = "alice", password: str = "correct-horse") -> TestResponse:
        token = csrf_token(self.client, "/auth/register")
        return self.client.post("/auth/register", data={
            "csrf_token": token, "username": username, "password": password, "confirm": password,
        })

    def login(self, username: str = "alice", password: str = "correct-horse") -> TestResponse:
        token = csrf_token(self.client, "/auth/login")
        return self.client.post("/auth/login", data={
            "csrf_token": token, "username": username, "password": password,
        })

    def logout(self) -> TestResponse:
        token = csrf_token(self.client, "/")
        return self.client.post("/auth/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


class ProjectActions:
    """Fills in the Train form the way a person would, and waits for preprocess."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def upload_images(self, project_name: str, classes: dict[str, list[tuple[str, bytes]]],
                      headers: dict | None = None) -> TestResponse:
        token = csrf_token(self.client, f"/image/train?num_classes={len(classes)}")
        data: dict = {"csrf_token": token, "project_name": project_name, "num_classes": str(len(classes)),
                      "submit": "Upload and train"}
        for i, (name, files) in enumerate(classes.items()):
            data[f"class_{i}_name"] = name
            data[f"class_{i}_files"] = [(io.BytesIO(content), filename) for filename, content in files]
        return self.client.post("/image/train", data=data, content_type="multipart/form-data",
                                headers=headers or {})

    def upload_text(self, project_name: str, classes: dict[str, list[str]]) -> TestResponse:
        token = csrf_token(self.client, f"/text/train?num_classes={len(classes)}")
        data: dict = {"csrf_token": token, "project_name": project_name, "num_classes": str(len(classes)),
                      "submit": "Upload and train"}
        for i, (name, lines) in enumerate(classes.items()):
            data[f"class_{i}_name"] = name
            data[f"class_{i}_text"] = "\n".join(lines)
        return self.client.post("/text/train", data=data, content_type="multipart/form-data")

    def finished_upload(self, response: TestResponse) -> UploadStatus:
        """The upload's status once preprocess has run (awaited, not slept for)."""
        upload_id = response.headers["Location"].rsplit("/", 1)[1]
        self.app.extensions["teachbox"].invoker.wait(timeout=120)
        return get_upload_status(self.app.extensions["teachbox"].storage, upload_id)

    def create_image_project(self, name: str = "Fruit", per_class: int = 10) -> UploadStatus:
        status = self.finished_upload(self.upload_images(
            name, {"red": class_images(0, per_class), "blue": class_images(1, per_class)}))
        assert status.state == "queued", status.problems
        return status


@pytest.fixture
def projects(app: Flask, client: FlaskClient) -> ProjectActions:
    return ProjectActions(app, client)
