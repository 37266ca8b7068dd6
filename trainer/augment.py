"""Augmented views of training images: deterministic, so their features can be cached.

Each view is a fixed transform (a mirror, a zoomed centre crop), not a random draw: the
same image always gives the same view, and the feature cache keys it as ``<sha256>.<view>``.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

__all__ = ["AUGMENT_VIEWS", "augment_image"]

AUGMENT_VIEWS = ("mirror", "zoom")
_ZOOM = 0.8  # keep the central 80 %: objects in the examples are rarely at the very edge


def augment_image(data: bytes, view: str) -> bytes:
    """The ``view`` of image ``data``, as PNG bytes for the featurizer."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    if view == "mirror":
        image = ImageOps.mirror(image)
    elif view == "zoom":
        width, height = image.size
        dx, dy = round(width * (1 - _ZOOM) / 2), round(height * (1 - _ZOOM) / 2)
        image = image.crop((dx, dy, width - dx, height - dy))
    else:
        raise ValueError(f"unknown augmentation view {view!r}; known: {AUGMENT_VIEWS}")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()
