"""``teachbox trainer``: build the worker from settings, own the signals, run the loop.

Shutdown has two stages, as in rq: the first SIGTERM/SIGINT asks the worker to finish or
release its job at the next safe point (so another trainer can take it at once); a second
one exits now (the worker's ``finally`` still gives the claim back).
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from teachbox.settings import Settings, load_settings
from teachbox.storage import open_storage
from trainer.worker import Worker

__all__ = ["main", "configure_threads", "warm_up"]

_logger = logging.getLogger(__name__)

# One torch thread. Measured on the 2-core machine (shared with other processes), ms per epoch
# of a head: 700x1280 linear 22 (1 thread) vs 98 (2 threads), MLP 72 vs 346; 2100x4384 linear
# 50 vs 782. The heads are small, so a second thread only adds synchronisation.
TORCH_THREADS = 1


def configure_threads() -> None:
    import torch

    torch.set_num_threads(TORCH_THREADS)


def warm_up(settings: Settings) -> None:
    """Load torch's optimizer machinery and both featurizers now, not inside the first job."""
    from teachbox.featurizers import create_featurizer
    from trainer.training import warm_up as warm_up_torch
    from trainer.worker import DEFAULT_FEATURIZERS

    warm_up_torch()
    for name in DEFAULT_FEATURIZERS.values():
        create_featurizer(name, settings.cache_dir, threads=settings.onnx_threads)


def _install_signal_handlers(worker: Worker) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if worker.stop_requested.is_set():
            _logger.warning("%s again: exiting now", name)
            raise SystemExit(128 + signum)
        _logger.warning("%s: stopping after the current step (send again to exit now)", name)
        worker.request_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def build_worker(settings: Settings) -> Worker:
    storage = open_storage(settings.storage, region=settings.aws_region,
                           endpoint_url=settings.s3_endpoint_url)
    return Worker(storage, settings)


def main(once: bool = False, burst: bool = False, max_jobs: int | None = None,
         settings: Settings | None = None) -> int:
    """Run a trainer until stopped. ``once``: run one job (waiting for it) and exit;
    ``burst``: exit when the queue is empty; ``max_jobs``: exit after that many jobs."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or load_settings()
    configure_threads()
    worker = build_worker(settings)
    _install_signal_handlers(worker)
    warm_up(settings)
    worker.work(burst=burst, max_jobs=1 if once else max_jobs)
    return 0
