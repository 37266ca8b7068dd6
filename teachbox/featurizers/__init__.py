"""Frozen backbones turning images and texts into features, identical in training and serving.

``create_featurizer(name, cache_dir, threads)`` returns a :class:`Featurizer` running an ONNX
graph in onnxruntime; the graph is exported from torch once into ``cache_dir``.

The names below are imported on first use (PEP 562), so ``teachbox.featurizers.catalog`` can
be read by preprocess and the web app without loading onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "IMAGE_SIZE",
    "Featurizer",
    "create_featurizer",
    "list_featurizers",
    "load_image_array",
    "register_featurizer",
]

_HOMES = {
    "IMAGE_SIZE": "teachbox.featurizers.image",
    "load_image_array": "teachbox.featurizers.image",
    "Featurizer": "teachbox.featurizers.registry",
    "create_featurizer": "teachbox.featurizers.registry",
    "list_featurizers": "teachbox.featurizers.registry",
    "register_featurizer": "teachbox.featurizers.registry",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
