"""Backbone features of every sample, computed once and cached on the trainer's disk.

Keyed by (featurizer name, featurizer version, sha256 of the input), so a retrain of the same
data, or a new dataset that shares images with an old one, featurizes nothing again.
Augmented views are cached under ``<sha256>.<view>`` (the views are deterministic).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from teachbox.featurizers import Featurizer

__all__ = ["FeatureCache", "UnreadableInputs"]

_logger = logging.getLogger(__name__)


class UnreadableInputs(ValueError):
    """The featurizer cannot read some inputs; ``indexes`` are their positions in ``keys``."""

    def __init__(self, indexes: list[int], reason: str) -> None:
        super().__init__(reason)
        self.indexes = indexes


class FeatureCache:
    """One ``.npy`` file per input under ``<cache_dir>/features/<name>-v<version>/``."""

    def __init__(self, cache_dir: str | Path, featurizer: Featurizer) -> None:
        self.featurizer = featurizer
        self.root = Path(cache_dir) / "features" / f"{featurizer.name}-v{featurizer.version}"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            vector = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None  # absent, or a file truncated by a crash: compute it again
        return vector if vector.shape == (self.featurizer.dim,) else None

    def put(self, key: str, vector: np.ndarray) -> None:
        """Write atomically (temp file + ``os.replace``): two trainers may share the cache."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, np.asarray(vector, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _readable(self, item: bytes | str) -> bool:
        try:
            self.featurizer.featurize([item])
        except ValueError:
            return False
        return True

    def features(
        self,
        keys: Sequence[str],
        load_inputs: Callable[[list[int]], Sequence[bytes] | Sequence[str]],
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Features ``[len(keys), dim]``: cached rows read, the rest computed from
        ``load_inputs(indexes)`` in one featurizer pass and cached.

        ``progress(done, total)`` counts inputs, cached ones included.
        """
        out = np.empty((len(keys), self.featurizer.dim), dtype=np.float32)
        todo = []
        for index, key in enumerate(keys):
            vector = self.get(key)
            if vector is None:
                todo.append(index)
            else:
                out[index] = vector
        cached = len(keys) - len(todo)
        if progress is not None:
            progress(cached, len(keys))
        if todo:
            inputs = load_inputs(todo)

            def on_batch(done: int, _: int) -> None:
                if progress is not None:
                    progress(cached + done, len(keys))

            try:
                computed = self.featurizer.featurize(inputs, progress=on_batch)
            except ValueError as error:
                # Rare (preprocess decoded every image): find every bad input, not just the first.
                bad = [index for index, item in zip(todo, inputs, strict=True) if not self._readable(item)]
                raise UnreadableInputs(bad or todo, str(error)) from error
            for row, index in enumerate(todo):
                out[index] = computed[row]
                self.put(keys[index], computed[row])
        _logger.info("features: %d cached, %d computed (%s)", cached, len(todo), self.featurizer.name)
        return out
