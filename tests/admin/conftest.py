"""An app on a real folder with three people: root (admin), alice and bob; CSRF stays on."""

from __future__ import annotations

import pytest

from teachbox.users import create_user
from tests.webapp.conftest import AuthActions
from webapp import create_app


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    storage = app.extensions["teachbox"].storage
    create_user(storage, "root", "correct-horse", is_admin=True)
    for name in ("alice", "bob"):
        create_user(storage, name, "correct-horse")
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
