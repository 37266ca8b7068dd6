"""EfficientNet-Lite1 and Lite2: Lite0's larger siblings, same scaling, larger inputs.

They differ from ``lite0`` only in input size, weights package and version, so they are the
same :class:`~teachbox.featurizers.image.ImageFeaturizer` with other numbers; their ONNX
graphs are exported by ``teachbox.featurizers.export`` from the ``efficientnet-lite1/2-
pytorch-model`` packages on first use, like Lite0's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from teachbox.featurizers.catalog import BUILTIN
from teachbox.featurizers.image import ImageFeaturizer
from teachbox.featurizers.registry import load_onnx_session, register_featurizer

__all__ = ["LITE_VERSIONS", "build_lite_featurizer"]

_logger = logging.getLogger(__name__)

# Bump a version when its graph or preprocessing changes: it keys the feature cache.
LITE_VERSIONS = {"lite1": "1", "lite2": "1"}


def build_lite_featurizer(name: str, cache_dir: Path, threads: int) -> ImageFeaturizer:
    """The ``lite1`` or ``lite2`` featurizer on its ONNX graph in ``cache_dir``."""
    version = LITE_VERSIONS[name]
    session = load_onnx_session(name, version, cache_dir, threads)
    return ImageFeaturizer(session, name=name, version=version, image_size=BUILTIN[name].image_size)


@register_featurizer("lite1")
def build_lite1(cache_dir: Path, threads: int) -> ImageFeaturizer:
    """The built-in ``lite1`` (balanced) featurizer: EfficientNet-Lite1 at 240 px."""
    return build_lite_featurizer("lite1", cache_dir, threads)


@register_featurizer("lite2")
def build_lite2(cache_dir: Path, threads: int) -> ImageFeaturizer:
    """The built-in ``lite2`` (accurate) featurizer: EfficientNet-Lite2 at 260 px."""
    return build_lite_featurizer("lite2", cache_dir, threads)
