"""Frozen backbones turning images and texts into features, identical in training and serving.

``create_featurizer(name, cache_dir, threads)`` returns a :class:`Featurizer` running an ONNX
graph in onnxruntime; the graph is exported from torch once into ``cache_dir``.
"""

from teachbox.featurizers.image import IMAGE_SIZE, load_image_array
from teachbox.featurizers.registry import (
    Featurizer,
    create_featurizer,
    list_featurizers,
    register_featurizer,
)

__all__ = [
    "IMAGE_SIZE",
    "Featurizer",
    "create_featurizer",
    "list_featurizers",
    "load_image_array",
    "register_featurizer",
]
