"""Trainer fixtures of tests/trainer, reused: small drawn datasets and a worker on the test folder."""

from tests.trainer.conftest import trainer_settings, worker

__all__ = ["trainer_settings", "worker"]
