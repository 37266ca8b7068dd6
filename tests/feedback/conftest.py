"""One app on a real folder with a really trained image project (red vs blue), shared by the
module; and reading a form off a page the way a browser submits it."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from teachbox.settings import load_settings
from tests.webapp.conftest import AuthActions, ProjectActions
from trainer.worker import Worker
from webapp import create_app


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.action, self.fields = form_id, False, "", {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside, self.action = True, attrs.get("action", "")
        elif self.inside and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self.inside and tag == "option" and "selected" in attrs:
            self.fields["class_index"] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def read_form(html: str, form_id: str) -> tuple[str, dict[str, str]]:
    """The action and the hidden/selected values of the form with ``form_id``."""
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.action, f"no form #{form_id} on the page"
    return reader.action, reader.fields


@pytest.fixture(scope="module")
def app(tmp_path_factory, cache_dir):
    data = tmp_path_factory.mktemp("data")
    # 11 images per class at most: a project of 10 takes one correction, two make it too big.
    settings = load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                             secret_key="test-secret", image_max_per_class=11)
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["teachbox"].invoker.wait(timeout=120)


@pytest.fixture(scope="module")
def app_storage(app):
    return app.extensions["teachbox"].storage


@pytest.fixture(scope="module")
def train_all(app, app_storage):
    return lambda: Worker(app_storage, app.extensions["teachbox"].settings, export=False).work(burst=True)


@pytest.fixture(scope="module")
def alice(app):
    client = app.test_client()
    AuthActions(client).register("alice")
    return client


@pytest.fixture
def new_project(app, alice):
    """A fresh red/blue project of alice's (preprocessed, not trained)."""
    return lambda name="Colours": ProjectActions(app, alice).create_image_project(name, per_class=10)
