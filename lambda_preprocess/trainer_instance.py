"""AWS mode: make sure the trainer's EC2 instance is running once a job is queued.

The trainer stops its own instance when idle, so a new job may find it stopped, or still
stopping. Starting a running or pending instance is a no-op; a stopping one cannot be started
until it has stopped, so we wait for that (bounded by a waiter, not a sleep loop).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ensure_trainer_running"]

_logger = logging.getLogger(__name__)

# How long to wait for a stopping instance: EC2 stops an instance in well under a minute.
_STOP_WAIT = {"Delay": 5, "MaxAttempts": 24}


def _state(client: Any, instance_id: str) -> str:
    reservations = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def ensure_trainer_running(
    client: Any, instance_id: str, stop_wait: dict | None = None
) -> str:
    """Start ``instance_id`` unless it is pending or running; return the state we found.

    Raises:
        botocore.exceptions.ClientError / WaiterError: EC2 refused or the instance did not
            stop in time; the job stays queued and the next upload tries again.
    """
    state = _state(client, instance_id)
    if state in ("pending", "running"):
        return state
    if state == "stopping":
        _logger.info("trainer %s is stopping; waiting for it to stop before starting it", instance_id)
        client.get_waiter("instance_stopped").wait(
            InstanceIds=[instance_id], WaiterConfig=stop_wait or _STOP_WAIT
        )
    _logger.info("starting trainer instance %s (was %s)", instance_id, state)
    client.start_instances(InstanceIds=[instance_id])
    return state
