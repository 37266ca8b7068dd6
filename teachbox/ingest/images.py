"""Decode, check and normalize one uploaded image.

Every image is read with Pillow, its declared size checked before any pixel is decoded,
rotated by its EXIF orientation, flattened to RGB, shrunk so its short side is at most the
stored size, and re-encoded as JPEG. The hash of the normalized bytes identifies it, so the
same picture uploaded twice is found whatever its file name.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from teachbox.datasets import sha256_hex
from teachbox.ingest._sizes import too_large_reason

__all__ = ["IMAGE_FORMATS", "IMAGE_OPENERS", "ImageRejected", "NormalizedImage", "normalize_image"]

_logger = logging.getLogger(__name__)

# Pillow format names we accept; GIF and animated WebP contribute their first frame.
# "MPO" is how Pillow names the multi-picture JPEGs many phone cameras write; it decodes
# as JPEG (its first picture), so it is a JPEG to the person uploading it.
IMAGE_OPENERS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")  # the Pillow decoders we allow
IMAGE_FORMATS = (*IMAGE_OPENERS, "MPO")  # what image.format may then say
_STORED_FORMAT = "JPEG"
_STORED_EXT = "jpg"
_JPEG_QUALITY = 90


class ImageRejected(ValueError):
    """The file cannot be used as an image; ``reason`` and ``fix`` are for the person."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}. {fix}")
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class NormalizedImage:
    data: bytes  # the stored JPEG
    sha256: str  # of ``data``
    ext: str
    width: int
    height: int
    source_format: str


def _refuse_bomb(max_pixels: int) -> ImageRejected:
    return ImageRejected(
        f"the image declares more than {max_pixels / 1e6:g} megapixels (a possible decompression bomb)",
        "Use a smaller image or remove it.",
    )


def _damaged() -> ImageRejected:
    return ImageRejected(
        "the image is damaged or incomplete and could not be decoded",
        "Export it again or remove it.",
    )


def _check_header(data: bytes, max_pixels: int) -> str:
    """Identify the format and check the declared size without decoding pixels."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or ""
            width, height = image.size
            if fmt in IMAGE_FORMATS and width * height <= max_pixels:
                image.verify()  # checksums (PNG) and structure, still without decoding
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse_bomb(max_pixels) from None
    except UnidentifiedImageError:
        raise ImageRejected(
            "the file is not an image (or not one Teachbox reads: JPEG, PNG, WebP, GIF, BMP)",
            "Choose an image file or remove it.",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _damaged() from None
    if fmt not in IMAGE_FORMATS:
        raise ImageRejected(
            f"the file is a {fmt} image; Teachbox reads JPEG, PNG, WebP, GIF and BMP",
            "Save it as JPEG or PNG.",
        )
    if width * height > max_pixels:
        raise _refuse_bomb(max_pixels)
    return fmt


def _to_rgb(image: Image.Image) -> Image.Image:
    # Transparent areas become white, as an image viewer shows them, not black.
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _shrink(image: Image.Image, store_side: int) -> Image.Image:
    width, height = image.size
    short = min(width, height)
    if short <= store_side:
        return image
    scale = store_side / short
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _already_stored(data: bytes, store_side: int) -> NormalizedImage | None:
    """A JPEG already in the stored form (from a downloaded dataset) is kept byte for byte:
    re-encoding would change it and its hash, so export -> import would not give the same
    dataset. Metadata, another mode, a larger size, or bytes after the end-of-image marker
    (a polyglot) send it through normal re-encoding instead."""
    if not data.endswith(b"\xff\xd9"):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            width, height = image.size
            if (image.mode != "RGB" or min(width, height) > store_side
                    or any(k in image.info for k in ("exif", "icc_profile", "xmp", "comment", "photoshop"))):
                return None
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        return None
    return NormalizedImage(data=data, sha256=sha256_hex(data), ext=_STORED_EXT, width=width,
                           height=height, source_format="JPEG")


def normalize_image(
    data: bytes, *, max_bytes: int, max_pixels: int, store_side: int, full_size: int = 0
) -> NormalizedImage:
    """The stored form of one uploaded image. ``full_size`` is the file's size when ``data``
    holds only its first ``max_bytes + 1`` bytes (read no further than needed to refuse it).

    Raises:
        ImageRejected: empty, too large, not an image, an unsupported format, a declared
            size over ``max_pixels``, or damaged; the reason says which.
    """
    if not data:
        raise ImageRejected("the file is empty (0 bytes)", "Choose the image again or remove it.")
    if len(data) > max_bytes:
        raise ImageRejected(
            too_large_reason(full_size or len(data), max_bytes),
            "Use a smaller photo or remove it.",
        )
    fmt = _check_header(data, max_pixels)
    if fmt == "JPEG" and (kept := _already_stored(data, store_side)):
        return kept
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG" if fmt == "MPO" else fmt]) as image:
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that still covers the stored
            # size (DESIGN.md: 113 ms -> 33 ms for a 12-megapixel photo).
            image.draft("RGB", (store_side, store_side))
            image.load()
            image = ImageOps.exif_transpose(image)
            image = _shrink(_to_rgb(image), store_side)
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _damaged() from None
    out = io.BytesIO()
    image.save(out, _STORED_FORMAT, quality=_JPEG_QUALITY)
    stored = out.getvalue()
    return NormalizedImage(
        data=stored, sha256=sha256_hex(stored), ext=_STORED_EXT,
        width=image.width, height=image.height, source_format=fmt,
    )
