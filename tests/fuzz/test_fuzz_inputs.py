"""Any input to a parser ends in its typed error or a valid result, never another exception.

Hypothesis drives the image decoder path, the CSV / text readers, the inference Lambda's
HTTP event and payload parsers and the preprocess Lambda's payload. Example counts stay
modest (each test well under 200) so the suite stays fast.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from lambda_infer.events import parse_http_event, parse_payload
from lambda_preprocess import handle
from lambda_preprocess.preprocess import PreprocessRequest
from teachbox.errors import BadRequest, TeachboxError
from teachbox.ingest import (
    ImageRejected,
    NormalizedImage,
    TextFileRejected,
    decode_text_file,
    normalize_image,
    read_labelled_csv,
    read_pasted_lines,
    read_text_column,
)
from teachbox.settings import load_settings
from teachbox.storage import LocalStorage

SETTINGS = load_settings(env={})
FUZZ = hypothesis_settings(max_examples=150, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _image(fmt: str, size: tuple[int, int] = (24, 16), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red").save(out, fmt)
    return out.getvalue()


SEEDS = [_image(fmt) for fmt in ("JPEG", "PNG", "GIF", "BMP", "WEBP")] + [_image("PNG", mode="RGBA")]


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    """A real image file with bytes overwritten, cut short or spliced: the decoder's hard cases."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=64))
    return bytes(data)


def _normalize(data: bytes) -> NormalizedImage:
    return normalize_image(data, max_bytes=SETTINGS.image_max_bytes, max_pixels=SETTINGS.image_max_pixels,
                           store_side=SETTINGS.image_store_side)


@FUZZ
@given(st.one_of(damaged_images(), st.binary(max_size=2048)))
def test_image_decoding_ends_in_a_stored_jpeg_or_image_rejected(data: bytes) -> None:
    try:
        stored = _normalize(data)
    except ImageRejected as error:
        assert str(error)
        return
    with Image.open(io.BytesIO(stored.data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    cell = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
    rows = draw(st.lists(st.lists(cell, min_size=1, max_size=4), max_size=12))
    delimiter = draw(st.sampled_from(",;\t|"))
    quote = draw(st.booleans())
    lines = [delimiter.join(f'"{c}"' if quote else c for c in row) for row in rows]
    header = draw(st.sampled_from(["", "text", "text,label", "label;sentence", "review|class"]))
    text = "\n".join(([header] if header else []) + lines)
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])), "replace")


@FUZZ
@given(st.one_of(csv_files(), st.binary(max_size=1024)), st.booleans())
@example(b'=cmd|" /C calc"!A0\n+1+1\n@SUM(1)\n', False)
@example(b"text\n\x00\x00\x00\n", False)
def test_text_files_end_in_rows_or_text_file_rejected(data: bytes, one_per_line: bool) -> None:
    try:
        decoded = decode_text_file(data, "examples.csv", SETTINGS.text_max_file_bytes)
        rows = read_text_column(decoded.text, SETTINGS.text_max_chars, one_per_line=one_per_line)
        labelled = read_labelled_csv(decoded.text, ["spam", "ham"], SETTINGS.text_max_chars)
    except TextFileRejected as error:
        assert str(error)
        return
    assert all(isinstance(row.text, str) for row in rows)
    assert all(isinstance(row.label, str) and isinstance(row.text, str) for row in labelled)


@FUZZ
@given(st.text(max_size=500))
def test_pasted_lines_never_fail(text: str) -> None:
    assert all(isinstance(row.text, str) for row in read_pasted_lines(text))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                        max_size=4),
    max_leaves=12,
)
PREDICT_KEYS = ["image_b64", "text", "texts", "inputs", "top_k", "version", "project_id"]


@st.composite
def predict_bodies(draw: st.DrawFn) -> dict:
    body = draw(st.dictionaries(st.sampled_from(PREDICT_KEYS), JSON, max_size=4))
    if draw(st.booleans()):
        body["image_b64"] = base64.b64encode(draw(damaged_images())).decode()
    return body


@st.composite
def function_url_events(draw: st.DrawFn) -> dict:
    """What a client controls in a Function URL event: path, headers, query, body."""
    body_kind = draw(st.sampled_from(["json", "multipart", "raw"]))
    headers = {"authorization": draw(st.sampled_from(["Bearer tb_x.y", "", "Basic abc", "bearer  "]))}
    if body_kind == "json":
        headers["content-type"] = "application/json"
        body = json.dumps(draw(st.one_of(predict_bodies(), JSON))).encode()
    elif body_kind == "multipart":
        boundary = "b0undary"
        headers["content-type"] = f"multipart/form-data; boundary={boundary}"
        parts = draw(st.lists(st.tuples(st.sampled_from(["text", "texts", "file", "top_k"]),
                                        st.binary(max_size=200)), max_size=4))
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
            + (b'; filename="x.png"' if name == "file" else b"") + b"\r\n\r\n" + value + b"\r\n"
            for name, value in parts) + draw(st.sampled_from([f"--{boundary}--\r\n".encode(), b""]))
    else:
        headers["content-type"] = draw(st.text(max_size=40))
        body = draw(st.binary(max_size=200))
    encoded = draw(st.booleans())
    return {
        "rawPath": draw(st.sampled_from(["/projects/0123456789abcdef/predict", "/projects/../predict", "/",
                                         "/projects/%00/predict"])),
        "requestContext": {"http": {"method": draw(st.sampled_from(["POST", "GET", "post"]))}},
        "headers": headers,
        "queryStringParameters": draw(st.none() | st.dictionaries(st.sampled_from(["top_k", "version"]),
                                                                  st.text(max_size=8), max_size=2)),
        "isBase64Encoded": encoded,
        "body": base64.b64encode(body).decode() if encoded else body.decode("utf-8", "replace"),
    }


@FUZZ
@given(function_url_events())
def test_function_url_events_end_in_a_request_or_a_typed_error(event: dict) -> None:
    try:
        request = parse_http_event(event, SETTINGS)
    except TeachboxError as error:
        assert 400 <= error.status < 500 and error.message
        return
    assert request.request.inputs and request.token


@FUZZ
@given(st.one_of(JSON, predict_bodies().map(lambda b: {**b, "project_id": "0123456789abcdef"})))
def test_direct_predict_payloads_end_in_a_request_or_a_typed_error(payload: object) -> None:
    try:
        request = parse_payload(payload, SETTINGS)
    except TeachboxError as error:
        assert 400 <= error.status < 500 and error.message
        return
    assert request.inputs


PREPROCESS_KEYS = ["upload_id", "project_id", "owner", "project_name", "kind", "class_names", "files",
                   "pasted", "labelled_csv", "archive", "options", "base_dataset_id"]


@st.composite
def preprocess_payloads(draw: st.DrawFn) -> dict:
    payload = {"upload_id": "0123456789abcdef", "project_id": "fedcba9876543210", "owner": "alice",
               "kind": "image", "class_names": ["a", "b"], "files": []}
    payload.update(draw(st.dictionaries(st.sampled_from(PREPROCESS_KEYS), JSON, max_size=4)))
    if draw(st.booleans()):
        payload["files"] = draw(st.lists(st.fixed_dictionaries({
            "key": st.sampled_from(["staging/0123456789abcdef/f.bin", "staging/../users/alice.json",
                                    "projects/x/project.json", "", "staging/0123456789abcdef/\x00"]),
            "class_index": st.one_of(st.integers(-3, 5), st.text(max_size=3), st.none()),
            "filename": st.text(max_size=20)}), max_size=3))
    return payload


@FUZZ
@given(preprocess_payloads())
def test_preprocess_payloads_end_in_a_request_or_bad_request(payload: dict) -> None:
    try:
        PreprocessRequest.from_payload(payload)
    except BadRequest as error:
        assert error.message


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-storage")


@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(preprocess_payloads())
def test_the_preprocess_handler_answers_any_payload_without_raising_or_writing_outside_uploads(
    scratch: Path, payload: dict
) -> None:
    storage = LocalStorage(scratch)
    result = handle(payload, storage, SETTINGS.replace(storage=f"file://{scratch}"))
    assert result["ok"] is False and 400 <= result["status"] < 600
    assert all(key.startswith("uploads/") for key in storage.list(""))
