"""The warm model cache: loaded models kept across invocations in one process.

A Lambda container or a gunicorn worker answers many requests; loading a bundle (head weights,
n-gram vocabulary) on each would cost a storage round trip or more per request. The cache:

- resolves "the current version" of a project by reading ``current.json`` at most once every
  ``refresh_seconds`` per project, so a newly promoted model answers within that time, without
  a restart, while a warm request usually reads nothing from storage;
- keeps ``LoadedModel`` objects by (storage, project, version), least recently used first out
  once their estimated memory passes ``budget_bytes`` (the backbone ONNX sessions are shared
  per process by ``create_featurizer`` and are not counted: they are loaded once, not per model);
- is safe to call from many threads: one lock guards the tables, and a model is loaded by one
  thread while others asking for the same model wait for it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from teachbox.bundles import bundle_key, current_version
from teachbox.errors import NotFound
from teachbox.projects import load_project
from teachbox.serving import INPUT_EMBEDDING, INPUT_NGRAMS, LoadedModel, load_model
from teachbox.storage import Storage
from teachbox.tokens import verify_token

__all__ = ["ModelCache", "CachedModel", "TokenCache", "estimate_model_bytes"]

_logger = logging.getLogger(__name__)

NO_MODEL_YET = "This project has no trained model yet; train it first."
# Python objects holding a JSON vocabulary take a few times the file's size.
_JSON_OVERHEAD = 4


@dataclass
class CachedModel:
    model: LoadedModel
    size_bytes: int


def estimate_model_bytes(storage: Storage, model: LoadedModel) -> int:
    """Memory a loaded model holds, estimated from the bundle files serving reads."""
    meta = model.meta
    inputs = meta.head.get("inputs", [INPUT_EMBEDDING])
    size = storage.size(bundle_key(meta.project_id, meta.version, meta.head.get("weights", "head.npz")))
    if INPUT_NGRAMS in inputs:
        ngrams_key = bundle_key(meta.project_id, meta.version, meta.head.get("ngrams", "ngrams.json"))
        size += _JSON_OVERHEAD * storage.size(ngrams_key)
    if meta.featurizer.get("graph"):  # a fine-tuned encoder of its own (~90 MB): not shared
        size += storage.size(bundle_key(meta.project_id, meta.version, meta.featurizer["graph"]))
    return size


class ModelCache:
    """Loaded models by (storage, project, version), bounded by estimated memory."""

    def __init__(
        self,
        cache_dir: str | Path,
        budget_bytes: int,
        refresh_seconds: float = 2.0,
        threads: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.budget_bytes = budget_bytes
        self.refresh_seconds = refresh_seconds
        self.threads = threads
        self._clock = clock
        self._lock = threading.Lock()
        self._models: OrderedDict[tuple[str, str, str], CachedModel] = OrderedDict()
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}
        # (storage url, project) -> (current version, when it was read)
        self._current: dict[tuple[str, str], tuple[str, float]] = {}
        self._projects: set[tuple[str, str]] = set()
        self.loads = 0  # how many bundles this cache has loaded; tests and the bench read it

    def current_version(self, storage: Storage, project_id: str) -> str:
        """The promoted version, re-read from storage at most every ``refresh_seconds``.

        Raises:
            NotFound: no such project, or it has no promoted model yet.
        """
        key = (storage.url, project_id)
        now = self._clock()
        with self._lock:
            known = self._current.get(key)
        if known and now - known[1] < self.refresh_seconds:
            return known[0]
        self._check_project(storage, project_id)
        version = current_version(storage, project_id)
        if version is None:
            raise NotFound(NO_MODEL_YET)
        with self._lock:
            self._current[key] = (version, now)
        if known and known[0] != version:
            _logger.info("project %s now serves %s (was %s)", project_id, version, known[0])
        return version

    def _check_project(self, storage: Storage, project_id: str) -> None:
        """NotFound("No such project.") for an unknown or malformed id; a project seen once is
        not read again (ids are never reused)."""
        key = (storage.url, project_id)
        with self._lock:
            if key in self._projects:
                return
        load_project(storage, project_id)
        with self._lock:
            self._projects.add(key)

    def get(self, storage: Storage, project_id: str, version: str | None = None) -> LoadedModel:
        """The model ``version`` of the project, or its current one; loaded on first use."""
        if version:
            self._check_project(storage, project_id)
        else:
            version = self.current_version(storage, project_id)
        key = (storage.url, project_id, version)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                self._models.move_to_end(key)
                return cached.model
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                cached = self._models.get(key)
            if cached is not None:
                return cached.model
            try:
                model = load_model(storage, project_id, version, self.cache_dir, threads=self.threads)
                self._insert(key, CachedModel(model, estimate_model_bytes(storage, model)))
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            return model

    def _insert(self, key: tuple[str, str, str], entry: CachedModel) -> None:
        with self._lock:
            self.loads += 1
            self._models[key] = entry
            # Always keep the model just loaded, even if it alone is over budget: it is in use.
            while len(self._models) > 1 and self.size_bytes() > self.budget_bytes:
                evicted, old = self._models.popitem(last=False)
                _logger.info("evicted model %s/%s (%d bytes) from the cache", evicted[1], evicted[2],
                             old.size_bytes)

    def size_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self._models.values())

    def cached_keys(self) -> list[tuple[str, str, str]]:
        """(storage url, project, version) of every cached model, least recently used first."""
        with self._lock:
            return list(self._models)


class TokenCache:
    """API tokens verified in the last ``ttl_seconds``, so a warm HTTP request reads nothing
    from storage (an S3 GET costs about as much as a prediction). The price: a revoked token
    keeps working for at most ``ttl_seconds``, the same delay as a newly promoted model.
    Only successes are remembered, by hash, never the secret itself."""

    def __init__(self, ttl_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._verified: dict[tuple[str, str, str], float] = {}

    def verify(self, storage: Storage, project_id: str, secret: str) -> bool:
        key = (storage.url, project_id, hashlib.sha256(secret.encode("utf-8")).hexdigest())
        now = self._clock()
        with self._lock:
            verified_at = self._verified.get(key)
        if verified_at is not None and now - verified_at < self.ttl_seconds:
            return True
        valid = verify_token(storage, project_id, secret)
        with self._lock:
            if valid:
                self._verified[key] = now
            else:
                self._verified.pop(key, None)
            # Drop expired entries so a long-lived process does not collect every token it saw.
            if len(self._verified) > 1024:
                self._verified = {k: t for k, t in self._verified.items() if now - t < self.ttl_seconds}
        return valid
