"""A real trainer process (``trainer.daemon.main``) that stops dead at one phase of its job,
so a test can SIGKILL it exactly there: ``python -m tests.faults.trainer_harness PHASE MARKER``.

The daemon has no fault hook of its own, and should not grow one for tests; this wrapper
parks the training thread instead. For ``features``, ``training`` and ``evaluating`` it parks
when the job enters the phase, after writing that phase to the job status; for ``saving`` it
parks inside the bundle write, after the head weights are stored and before ``model.json``,
so the killed trainer leaves a half-written version behind. Heartbeats go on meanwhile, as
they would in a trainer busy in that phase. The marker file says "parked now".
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from teachbox import jobs
from teachbox.storage import Storage
from tests.faults.storage_faults import InterceptedStorage
from trainer import daemon, worker

__all__ = ["PHASES", "main"]

PHASES = ("features", "training", "evaluating", "saving")


def _park(marker: Path) -> None:
    marker.write_text("parked")
    threading.Event().wait()  # until SIGKILL


def _park_on_phase(phase: str, marker: Path) -> None:
    update = worker.JobHeartbeat.update

    def parking_update(self: worker.JobHeartbeat, name: str, fraction: float = 0.0) -> None:
        update(self, name, fraction)
        if name == phase:
            jobs.heartbeat(self.storage, self.claim, dict(self._progress))  # the phase is on record
            _park(marker)

    worker.JobHeartbeat.update = parking_update


def _park_before_model_json(marker: Path) -> None:
    open_storage = daemon.open_storage

    def parking_storage(*args, **kwargs) -> Storage:
        def before_put(key: str) -> None:
            if "/models/" in key and key.endswith("/model.json"):
                _park(marker)

        return InterceptedStorage(open_storage(*args, **kwargs), before_put)

    daemon.open_storage = parking_storage


def main(phase: str, marker: str) -> int:
    if phase == "saving":
        _park_before_model_json(Path(marker))
    else:
        _park_on_phase(phase, Path(marker))
    return daemon.main(once=True)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
