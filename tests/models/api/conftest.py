"""The REST API tests' world (one app, users, a trained project) for the model-choice API tests."""

from tests.api.conftest import alice, client, world

__all__ = ["alice", "client", "world"]
