"""The featurizer registry: ``create_featurizer(name)`` and the ONNX graph cache behind it.

A featurizer turns raw inputs (image bytes or texts) into fixed-size float32 features with a
frozen backbone. Builders are registered by name with ``@register_featurizer`` or, for
third-party packages, through the ``teachbox.featurizers`` entry point group.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph, InvalidProtobuf

from teachbox.featurizers.catalog import ENTRY_POINT_GROUP

__all__ = [
    "ENTRY_POINT_GROUP",
    "Featurizer",
    "FeaturizerBuilder",
    "Progress",
    "create_featurizer",
    "list_featurizers",
    "load_onnx_session",
    "open_onnx_session",
    "register_featurizer",
]

_logger = logging.getLogger(__name__)


Progress = Callable[[int, int], None]


class Featurizer:
    """A frozen backbone: raw inputs in, float32 features ``[n, dim]`` out.

    Subclasses set the class attributes and implement ``featurize``. ``version`` is part of
    every feature-cache key and of ``model.json``: bump it when the graph or the
    preprocessing changes.
    """

    name: str
    kind: str
    version: str
    dim: int
    default_batch_size: int = 1

    def featurize(
        self,
        inputs: Sequence[bytes] | Sequence[str],
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Features for ``inputs`` in order, float32 ``[len(inputs), dim]``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a model bundle must record to reproduce these features."""
        return {"name": self.name, "kind": self.kind, "version": self.version, "dim": self.dim}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} v{self.version} dim={self.dim}>"


FeaturizerBuilder = Callable[[Path, int], Featurizer]
"""Builds a featurizer from ``(cache_dir, threads)``."""

_BUILTIN_MODULES = (
    "teachbox.featurizers.image", "teachbox.featurizers.lite_family", "teachbox.featurizers.text",
)

_builders: dict[str, FeaturizerBuilder] = {}
_entry_points: dict[str, EntryPoint] = {}
_discovered = False
_instances: dict[tuple[str, Path, int], Featurizer] = {}
_lock = threading.RLock()


def register_featurizer(name: str) -> Callable[[FeaturizerBuilder], FeaturizerBuilder]:
    """Decorator registering ``builder(cache_dir, threads) -> Featurizer`` under ``name``."""

    def decorator(builder: FeaturizerBuilder) -> FeaturizerBuilder:
        with _lock:
            if name in _builders and _builders[name] is not builder:
                raise ValueError(f"a featurizer named {name!r} is already registered")
            _builders[name] = builder
        return builder

    return decorator


def list_featurizers() -> list[str]:
    """Names ``create_featurizer`` accepts, built-in and installed."""
    with _lock:
        _discover()
        return sorted(_builders.keys() | _entry_points.keys())


def create_featurizer(name: str, cache_dir: str | Path, threads: int = 1) -> Featurizer:
    """The featurizer ``name`` running its ONNX graph from ``cache_dir`` on ``threads`` threads.

    The graph is exported into ``cache_dir`` on first use. Instances are shared per
    ``(name, cache_dir, threads)`` within a process, so asking again is instant.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    key = (name, Path(cache_dir).resolve(), threads)
    with _lock:
        if key not in _instances:
            _instances[key] = _builder(name)(key[1], threads)
        return _instances[key]


def load_onnx_session(
    name: str,
    version: str,
    cache_dir: Path,
    threads: int,
) -> ort.InferenceSession:
    """An onnxruntime session on ``cache_dir/<name>-<version>.onnx``, exported if absent."""
    path = cache_dir / f"{name}-{version}.onnx"
    if not path.exists():
        _export(name, path)
    try:
        return _open_session(path, threads)
    except (InvalidProtobuf, InvalidGraph) as error:
        # Not a graph we wrote (exports are atomic): a damaged disk or a stray file.
        _logger.warning("re-exporting unreadable ONNX graph %s: %s", path, error)
        _export(name, path)
        return _open_session(path, threads)


def _export(name: str, path: Path) -> None:
    _logger.info("exporting featurizer %s to %s (first use; takes seconds)", name, path)
    # Lazy: this is the only import of torch, and the serving path never reaches it.
    try:
        from teachbox.featurizers.export import export_onnx
    except ImportError as error:  # a serving image without torch, and without this graph baked in
        raise RuntimeError(
            f"the ONNX graph {path.name} of featurizer {name!r} is not in {path.parent} and this "
            f"process cannot export it ({error}); bake it into the cache folder where the image is built"
        ) from error

    export_onnx(name, path)


def open_onnx_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime session on the graph ``path``, set up as every featurizer's is."""
    return _open_session(path, threads)


def _open_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _builder(name: str) -> FeaturizerBuilder:
    _discover()
    if name not in _builders and name in _entry_points:
        _builders[name] = _entry_points[name].load()
    if name not in _builders:
        valid = ", ".join(sorted(_builders.keys() | _entry_points.keys()))
        raise ValueError(f"unknown featurizer {name!r}; choose one of: {valid}")
    return _builders[name]


def _discover() -> None:
    """Import the built-ins and note installed entry points, once per process."""
    global _discovered
    if _discovered:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _builders:
            _logger.warning(
                "ignoring entry point %s: featurizer %r is built in",
                entry_point.value,
                entry_point.name,
            )
            continue
        _entry_points[entry_point.name] = entry_point
    _discovered = True
