"""Colour-histogram image features: 16 bins per RGB channel, no network, no ONNX.

A plugin only needs a ``builder(cache_dir, threads) -> Featurizer`` behind an entry point in
the ``teachbox.featurizers`` group. Reusing ``load_image_array`` gives it the same decoding,
EXIF handling and "not an image" errors as the built-in backbones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from teachbox.featurizers import load_image_array
from teachbox.featurizers.registry import Featurizer, Progress

__all__ = ["ColourHistogram", "build_colorhist"]

_BINS = 16
_SIZE = 64


class ColourHistogram(Featurizer):
    name = "colorhist"
    kind = "image"
    version = "1"
    dim = 3 * _BINS

    def featurize(
        self, inputs: Sequence[bytes], batch_size: int | None = None, progress: Progress | None = None,
    ) -> np.ndarray:
        features = np.empty((len(inputs), self.dim), dtype=np.float32)
        for index, data in enumerate(inputs):
            try:
                pixels = load_image_array(bytes(data), _SIZE)  # [3, 64, 64] scaled to [-1, 1]
            except ValueError as error:
                raise ValueError(f"input {index}: {error}") from error
            for channel in range(3):
                counts, _ = np.histogram(pixels[channel], bins=_BINS, range=(-1.0, 1.0))
                features[index, channel * _BINS:(channel + 1) * _BINS] = counts / pixels[channel].size
            if progress is not None:
                progress(index + 1, len(inputs))
        return features

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backbone": "RGB colour histogram",
                "input": {"image_size": _SIZE, "bins_per_channel": _BINS}}


def build_colorhist(cache_dir: Path, threads: int) -> ColourHistogram:
    """The entry point: Teachbox calls it with its cache folder and thread count."""
    return ColourHistogram()
