"""Image features: EfficientNet-Lite pooled to 1280 values, run by onnxruntime.

``lite0`` is built here; its larger siblings differ only in input size, weights and version
(``teachbox.featurizers.lite_family``) and share this class and ``load_image_array``.

``load_image_array`` is the one place where image bytes become network input; training,
serving and the exports all go through it, so there is no train/serve skew.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps, UnidentifiedImageError

from teachbox.featurizers.registry import (
    Featurizer,
    Progress,
    load_onnx_session,
    register_featurizer,
)
from teachbox.ingest.images import IMAGE_FORMATS, IMAGE_OPENERS  # one list for uploads and serving

__all__ = ["IMAGE_FORMATS", "IMAGE_SIZE", "ImageFeaturizer", "load_image_array"]

_logger = logging.getLogger(__name__)

IMAGE_SIZE = 224
# EfficientNet-Lite was trained on (x - 0.5) / 0.5 with x in [0, 1], not ImageNet mean/std:
# with this scaling top-1 on real photos rose from 0.69 to 0.84 (DESIGN.md).
_MEAN = 0.5
_STD = 0.5
_BACKGROUND = (255, 255, 255)
_FORMAT_NAMES = "JPEG, PNG, WebP, GIF or BMP"


def load_image_array(data: bytes, size: int = IMAGE_SIZE) -> np.ndarray:
    """Decode image bytes to the network input: float32 ``[3, size, size]``, RGB, scaled.

    EXIF orientation applied, transparency flattened onto white, short side resized to
    ``size`` (bilinear), centre-cropped to a square, pixels scaled as ``(x / 255 - 0.5) / 0.5``.
    Raises ``ValueError`` naming the problem when the bytes are not a readable image in one
    of ``IMAGE_FORMATS``.
    """
    if not data:
        raise ValueError("image is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_OPENERS) as image:
            # JPEG only: decode at a reduced scale that still covers ``size`` on the short side.
            image.draft("RGB", (size, size))
            image = _to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as error:
        raise ValueError(f"image is too large to decode safely: {error}") from error
    except UnidentifiedImageError as error:
        raise ValueError(f"not a {_FORMAT_NAMES} image") from error
    except (OSError, SyntaxError, EOFError) as error:
        # Pillow reports truncated or malformed files as OSError/SyntaxError/EOFError.
        raise ValueError(f"image data is damaged ({error})") from error
    pixels = np.array(_resize_and_crop(image, size), dtype=np.float32)
    pixels /= 255.0
    pixels -= _MEAN
    pixels /= _STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels carry arbitrary colours; show them as a browser would, on white.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _resize_and_crop(image: Image.Image, side: int) -> Image.Image:
    width, height = image.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    left = (size[0] - side) // 2
    top = (size[1] - side) // 2
    resized = image.resize(size, Image.Resampling.BILINEAR)
    return resized.crop((left, top, left + side, top + side))


class ImageFeaturizer(Featurizer):
    """An EfficientNet-Lite ImageNet backbone up to global average pooling (Lite0 by default;
    a sibling passes its own name, version and input size)."""

    name = "lite0"
    kind = "image"
    version = "1"
    dim = 1280
    image_size = IMAGE_SIZE
    # Measured (bench/bench_featurizers.py): 8 is as fast as 32, and batch 1 within 6%.
    default_batch_size = 8

    def __init__(self, session: ort.InferenceSession, name: str | None = None, version: str | None = None,
                 image_size: int | None = None) -> None:
        self._session = session
        self.name = name or self.name
        self.version = version or self.version
        self.image_size = image_size or self.image_size

    def featurize(
        self,
        inputs: Sequence[bytes],
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Features for image bytes, float32 ``[n, 1280]``; ValueError names a bad input."""
        batch_size = batch_size or self.default_batch_size
        features = np.empty((len(inputs), self.dim), dtype=np.float32)
        for start in range(0, len(inputs), batch_size):
            stop = min(start + batch_size, len(inputs))
            pixels = np.stack([_input_array(inputs, i, self.image_size) for i in range(start, stop)])
            (features[start:stop],) = self._session.run(["features"], {"pixels": pixels})
            if progress is not None:
                progress(stop, len(inputs))
        return features

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backbone": f"efficientnet-{self.name} (ImageNet), global average pooling",
            "input": {
                "image_size": self.image_size,
                "resize": "short side to image_size, bilinear, then centre crop",
                "color": "RGB after EXIF transpose; transparency flattened onto white",
                "layout": "NCHW float32",
                "scaling": {"formula": "(x / 255 - mean) / std", "mean": _MEAN, "std": _STD},
            },
        }


def _input_array(inputs: Sequence[bytes], index: int, size: int) -> np.ndarray:
    data = inputs[index]
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"input {index} is {type(data).__name__}, expected image bytes")
    try:
        return load_image_array(bytes(data), size)
    except ValueError as error:
        raise ValueError(f"input {index}: {error}") from error


@register_featurizer(ImageFeaturizer.name)
def build_image_featurizer(cache_dir: Path, threads: int) -> ImageFeaturizer:
    """The built-in ``lite0`` featurizer."""
    session = load_onnx_session(ImageFeaturizer.name, ImageFeaturizer.version, cache_dir, threads)
    return ImageFeaturizer(session)
