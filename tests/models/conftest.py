"""The trainer's fixtures (a worker on the test folder), reused by the model-choice tests."""

from tests.trainer.conftest import trainer_settings, worker

__all__ = ["trainer_settings", "worker"]
