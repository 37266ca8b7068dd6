"""Fixtures of the areas the model-choice tests build on, reused as they are: the trainer's
worker, the web app's flaskr-style app/client/actions, and preprocess's staged uploads."""

from tests.preprocess.conftest import new_upload
from tests.trainer.conftest import trainer_settings, worker
from tests.webapp.conftest import app, auth, client, projects

__all__ = ["app", "auth", "client", "new_upload", "projects", "trainer_settings", "worker"]
