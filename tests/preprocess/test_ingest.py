"""The ingest rules on their own: how one image or one text file becomes samples."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from teachbox.ingest import (
    ImageRejected,
    TextFileRejected,
    decode_text_file,
    normalize_image,
    normalize_text,
    read_text_column,
)

LIMITS = {"max_bytes": 15 * 1024 * 1024, "max_pixels": 50_000_000, "store_side": 320}


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(normalize_image(data, **LIMITS).data))


def _saved(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_exif_orientation_is_applied():
    landscape = Image.new("RGB", (200, 100), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a portrait photo taken with the phone on its side

    assert _decoded(_saved(landscape, "JPEG", exif=exif)).size == (100, 200)


def test_transparent_pixels_become_white():
    clear = Image.new("RGBA", (20, 20), (255, 0, 0, 0))

    assert _decoded(_saved(clear, "PNG")).getpixel((10, 10)) == (255, 255, 255)


def test_animated_gif_keeps_its_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    gif = _saved(frames[0], "GIF", save_all=True, append_images=frames[1:])

    red, green, blue = _decoded(gif).getpixel((10, 10))
    assert red > 200 and blue < 50


def test_the_same_picture_saved_as_png_and_bmp_is_one_image():
    picture = Image.new("RGB", (40, 30), "green")

    png = normalize_image(_saved(picture, "PNG"), **LIMITS)
    bmp = normalize_image(_saved(picture, "BMP"), **LIMITS)

    assert png.sha256 == bmp.sha256


def test_tiff_is_refused_naming_the_formats_we_read():
    sentence = ("the file is a TIFF image; Teachbox reads JPEG, PNG, WebP, GIF and BMP. "
                "Save it as JPEG or PNG.")
    with pytest.raises(ImageRejected, match=re.escape(sentence)):
        normalize_image(_saved(Image.new("RGB", (20, 20)), "TIFF"), **LIMITS)


def test_utf8_with_bom_is_read_without_the_bom():
    decoded = decode_text_file("text\nnaïve\n".encode("utf-8-sig"), "a.csv", 1000)

    assert (decoded.text, decoded.encoding, decoded.note) == ("text\nnaïve\n", "utf-8-sig", "")


def test_windows_1252_quotes_are_decoded_and_noted():
    decoded = decode_text_file("\u201cquoted\u201d".encode("cp1252"), "a.csv", 1000)

    assert decoded.text == "\u201cquoted\u201d"
    assert decoded.note.startswith("a.csv is not UTF-8; it was read as Windows-1252")


def test_control_characters_mark_a_file_as_binary():
    with pytest.raises(TextFileRejected, match=r"the file is not text \(it looks like a binary file\)"):
        decode_text_file(bytes(range(1, 32)) * 10, "a.csv", 10_000)


def test_semicolon_delimited_file_picks_the_named_column():
    rows = read_text_column("id;sentence\n1;hello there\n2;bye now\n", max_chars=100)

    assert [(row.row, row.text) for row in rows] == [(2, "hello there"), (3, "bye now")]


def test_one_column_with_commas_in_the_text_keeps_each_line_whole():
    rows = read_text_column("I liked it, mostly\nno commas here\nwell, well, well\n", max_chars=100)

    assert [row.text for row in rows] == ["I liked it, mostly", "no commas here", "well, well, well"]


def test_txt_file_takes_every_line_whole_even_with_one_comma_each():
    rows = read_text_column("good, really\nbad, truly\n", max_chars=100, one_per_line=True)

    assert [row.text for row in rows] == ["good, really", "bad, truly"]


def test_normalize_text_trims_collapses_and_composes():
    assert normalize_text("  e\u0301te\u0301 \n\t ici ") == "\u00e9t\u00e9 ici"


def test_a_multi_picture_phone_jpeg_is_accepted_as_a_jpeg() -> None:
    first = Image.new("RGB", (300, 200), (200, 10, 10))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (300, 200))])
    result = normalize_image(buffer.getvalue(), max_bytes=10**7, max_pixels=10**8, store_side=320)
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.format == "JPEG" and stored.getpixel((10, 10))[0] > 150


def _stored_form_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), (20, 120, 200)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_a_jpeg_already_in_stored_form_is_kept_byte_for_byte() -> None:
    data = _stored_form_jpeg()
    result = normalize_image(data, max_bytes=10**7, max_pixels=10**8, store_side=320)
    assert result.data == data  # so a downloaded dataset re-imports with the same hashes


def test_a_stored_form_jpeg_with_trailing_bytes_is_re_encoded_without_them() -> None:
    data = _stored_form_jpeg() + b"<script>alert(1)</script>"
    result = normalize_image(data, max_bytes=10**7, max_pixels=10**8, store_side=320)
    assert b"<script>" not in result.data
