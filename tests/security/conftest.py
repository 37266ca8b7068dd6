"""The web app fixtures of tests/webapp (app on a real folder, CSRF on), reused here."""

from tests.webapp.conftest import app, auth, client, projects

__all__ = ["app", "auth", "client", "projects"]
