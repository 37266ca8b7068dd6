"""API fixtures: one trained image project (with its exports) shared by the session, tokens of
every kind, and small actions that call the API as a program or as the signed-in site would.

Training with exports takes tens of seconds, so the trained world is built once; tests that
change things (upload, retrain, tokens) act on it only in ways other tests do not depend on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from teachbox.jobs import get_job
from teachbox.projects import Project, create_project
from teachbox.settings import Settings, load_settings
from teachbox.storage import LocalStorage
from teachbox.tokens import create_token, revoke_token
from teachbox.users import create_user
from tests.trainer.conftest import (
    draw_shape,
    shapes,
    submit,
    topic_texts,
    write_image_dataset,
    write_text_dataset,
)
from tests.webapp.conftest import AuthActions, csrf_token
from trainer.worker import Worker
from webapp import create_app

PASSWORD = "correct-horse"


@dataclass
class World:
    app: Flask
    storage: LocalStorage
    settings: Settings
    trained: Project  # alice's image project, trained with exports
    texts: Project  # alice's text project (sport, cooking, weather), trained
    other: Project  # alice's second project, never trained
    bobs: Project  # another user's
    version: str
    job_id: str
    token: str  # live, for ``trained``
    revoked: str  # was for ``trained``
    other_token: str  # live, for ``other``
    text_token: str  # live, for ``texts``


def shape_png(shape: str, seed: int) -> bytes:
    return draw_shape(shape, random.Random(seed))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> World:
    folder = tmp_path_factory.mktemp("api-data")
    settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=str(cache_dir),
                             secret_key="test-secret").replace(
        heartbeat_seconds=0.2, lease_seconds=30.0, trainer_poll_seconds=0.05)
    storage = LocalStorage(str(folder))
    for name in ("alice", "bob"):
        create_user(storage, name, PASSWORD)
    create_user(storage, "carol", PASSWORD, is_admin=True)
    manifest = write_image_dataset(storage, shapes(10, seed=7, classes=("circle", "square")))
    trained = create_project(storage, "alice", "Shapes", "image", ["circle", "square"],
                             featurizer="lite0", project_id=manifest.project_id)
    job = submit(storage, manifest)
    text_manifest = write_text_dataset(storage, topic_texts(30, seed=3))
    texts = create_project(storage, "alice", "Topics", "text", text_manifest.class_names,
                           featurizer="minilm", project_id=text_manifest.project_id)
    text_job = submit(storage, text_manifest)
    Worker(storage, settings, trainer_id="api-tests", export=True).work(burst=True)
    for finished in (get_job(storage, job.job_id), get_job(storage, text_job.job_id)):
        assert finished.state == "succeeded", finished.error
    job = get_job(storage, job.job_id)
    other = create_project(storage, "alice", "Other", "image", ["a", "b"])
    bobs = create_project(storage, "bob", "Bob's", "image", ["x", "y"])
    _, token = create_token(storage, trained.id, "alice", "ci")
    revoked_id, revoked = create_token(storage, trained.id, "alice", "old laptop")
    revoke_token(storage, trained.id, revoked_id)
    _, other_token = create_token(storage, other.id, "alice", "other")
    _, text_token = create_token(storage, texts.id, "alice", "ci")
    app = create_app(settings)
    app.config["TESTING"] = True
    yield World(app=app, storage=storage, settings=settings, trained=trained, texts=texts, other=other,
                bobs=bobs, version=job.model_version, job_id=job.job_id, token=token, revoked=revoked,
                other_token=other_token, text_token=text_token)
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture
def client(world: World) -> FlaskClient:
    return world.app.test_client()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class SignedIn:
    """The site's own pages calling the API: the session cookie, plus X-CSRFToken on changes."""

    def __init__(self, client: FlaskClient, username: str) -> None:
        AuthActions(client).login(username, PASSWORD)
        self.client = client
        self.csrf = csrf_token(client, "/")

    def headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.csrf}


@pytest.fixture
def alice(client: FlaskClient) -> SignedIn:
    return SignedIn(client, "alice")


@pytest.fixture
def bob(client: FlaskClient) -> SignedIn:
    return SignedIn(client, "bob")


@pytest.fixture
def admin(client: FlaskClient) -> SignedIn:
    return SignedIn(client, "carol")
