"""Real files made by the tests: good pictures drawn with Pillow and the bad inputs people upload."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw


def drawn_image(seed: int, size: tuple[int, int] = (400, 300), fmt: str = "JPEG") -> bytes:
    """A distinct picture per seed: a coloured background with a shape placed by the seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(size[0] - 40), rng.randrange(size[1] - 40)
        draw.ellipse((x, y, x + 40, y + 40), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose header claims ``width`` x ``height`` (CRC fixed, so it parses)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = data[12:29]  # "IHDR" + 13 bytes of header
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)
