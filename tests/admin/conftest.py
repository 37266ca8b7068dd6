"""An app on a real folder with three people: root (admin), alice and bob; CSRF stays on."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from teachbox.records import now
from teachbox.users import User, save_user
from tests.webapp.conftest import AuthActions
from webapp import create_app


@pytest.fixture(scope="session")
def password_hash() -> str:
    # Hashed once: each hash takes a deliberate fraction of a second.
    return generate_password_hash("correct-horse")


@pytest.fixture
def app(settings, password_hash):
    app = create_app(settings)
    app.config["TESTING"] = True
    storage = app.extensions["teachbox"].storage
    for name in ("root", "alice", "bob"):
        save_user(storage, User(username=name, password_hash=password_hash, created=now(),
                                is_admin=name == "root"))
    yield app
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture
def app_storage(app):
    return app.extensions["teachbox"].storage


def signed_in(app, username: str):
    client = app.test_client()
    response = AuthActions(client).login(username)
    assert response.status_code == 302, f"{username} could not log in"
    return client


@pytest.fixture
def root(app):
    return signed_in(app, "root")


@pytest.fixture
def alice(app):
    return signed_in(app, "alice")
