"""Turning what callers send into one ``PredictRequest``, and answers into HTTP responses.

Two shapes arrive: a direct-invocation payload (the web app, ``Invoker.call``) and a Lambda
Function URL / API Gateway HTTP API v2 event (programs holding an API token). Both end as a
``PredictRequest`` whose inputs are decoded, so ``predict`` never sees base64, JSON or
multipart; ``check_inputs``, which ``predict`` calls, holds them to the limits.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser, default_stream_factory
from werkzeug.http import parse_options_header

from teachbox.errors import BadRequest, NotFound, PayloadTooLarge, TeachboxError, Unauthorized
from teachbox.ingest import IMAGE_FORMATS
from teachbox.settings import Settings

__all__ = [
    "MAX_BATCH",
    "UNREADABLE_IMAGE",
    "check_inputs",
    "DEFAULT_TOP_K",
    "MethodNotAllowed",
    "PredictRequest",
    "HttpRequest",
    "is_http_event",
    "parse_payload",
    "parse_http_event",
    "http_response",
    "error_response",
]

MAX_BATCH = 32
DEFAULT_TOP_K = 3
UNREADABLE_IMAGE = "Input {n} is not a readable image (JPEG, PNG, WebP, GIF or BMP)."
_PATH = re.compile(r"^/projects/([^/]+)/predict/?$")
# A browser's FileReader.readAsDataURL prefixes this; accepting it saves every caller a strip.
_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,")


class MethodNotAllowed(TeachboxError):
    status = 405
    code = "method_not_allowed"


@dataclass
class PredictRequest:
    project_id: str
    inputs: list[bytes | str]
    top_k: int = DEFAULT_TOP_K
    version: str | None = None


@dataclass
class HttpRequest:
    """A prediction asked for over HTTP, with the bearer token still to be checked."""

    token: str
    request: PredictRequest


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MiB"


def _check_count(count: int) -> None:
    if count == 0:
        raise BadRequest("Send at least one input: an image (image_b64) or a text.")
    if count > MAX_BATCH:
        raise PayloadTooLarge(
            f"Send at most {MAX_BATCH} inputs per request; this one has {count}. Split it into batches."
        )


def _check_image(number: int, data: bytes, settings: Settings) -> None:
    if len(data) > settings.image_max_bytes:
        raise PayloadTooLarge(
            f"Input {number} is {_mib(len(data))}; images may be at most {_mib(settings.image_max_bytes)}."
        )
    # Reading the header only (no pixel decoding) names a wrong format or a decompression
    # bomb up front; a file that is damaged further in is caught when it is decoded.
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError):
        raise BadRequest(UNREADABLE_IMAGE.format(n=number)) from None
    except Image.DecompressionBombError:
        width, height, image_format = settings.image_max_pixels + 1, 1, ""
    if width * height > settings.image_max_pixels:
        raise PayloadTooLarge(
            f"Input {number} has too many pixels; images may have at most "
            f"{settings.image_max_pixels:,} pixels (width x height)."
        )
    if image_format not in IMAGE_FORMATS:
        raise BadRequest(UNREADABLE_IMAGE.format(n=number))


def _check_text(number: int, text: str, settings: Settings) -> None:
    if not text.strip():
        raise BadRequest(f"Input {number} is empty text; type something to classify.")
    if len(text) > settings.text_max_chars:
        raise PayloadTooLarge(
            f"Input {number} is {len(text):,} characters long; texts may be at most "
            f"{settings.text_max_chars:,}."
        )


def check_inputs(inputs: Sequence[object], settings: Settings) -> str:
    """Check decoded inputs against the limits; return their kind, "image" or "text".

    Raises BadRequest or PayloadTooLarge naming the input (counted from 1) and the fix.
    """
    _check_count(len(inputs))
    kinds = set()
    for number, value in enumerate(inputs, start=1):
        if isinstance(value, bytes):
            kinds.add("image")
            _check_image(number, value, settings)
        elif isinstance(value, str):
            kinds.add("text")
            _check_text(number, value, settings)
        else:
            raise BadRequest(f"Input {number} must be an image or a text, not {type(value).__name__}.")
        if len(kinds) > 1:
            raise BadRequest(f"Input {number} mixes images and texts in one request; send one kind.")
    return kinds.pop()


def _decode_image_b64(number: int, value: object, settings: Settings) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"Input {number}: image_b64 must be a base64 string.")
    value = _DATA_URL.sub("", value, count=1)
    # Refuse before decoding: base64 is 4 characters per 3 bytes.
    if len(value) * 3 // 4 > settings.image_max_bytes + 3:
        raise PayloadTooLarge(
            f"Input {number} is over {_mib(settings.image_max_bytes)}; "
            f"images may be at most {_mib(settings.image_max_bytes)}."
        )
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            f"Input {number}: image_b64 is not valid base64; send the file's bytes base64-encoded."
        ) from None
    return data


def _text(number: int, value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Input {number}: text must be a string.")
    return value


def _decode_inputs(items: object, settings: Settings) -> list[bytes | str]:
    """``[{"image_b64": ...} | {"text": ...}]`` decoded; limits are ``check_inputs``' job."""
    if not isinstance(items, list):
        raise BadRequest('"inputs" must be a list of {"image_b64": ...} or {"text": ...} objects.')
    _check_count(len(items))  # before decoding anything: refuse 10,000 images cheaply
    decoded: list[bytes | str] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict) and "image_b64" in item:
            decoded.append(_decode_image_b64(number, item["image_b64"], settings))
        elif isinstance(item, dict) and "text" in item:
            decoded.append(_text(number, item["text"]))
        else:
            raise BadRequest(f'Input {number} has neither "image_b64" nor "text"; send one of them.')
    return decoded


def _top_k(value: object) -> int:
    if value is None or value == "":
        return DEFAULT_TOP_K
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest("top_k must be a whole number of at least 1.")
    return value


def _version(value: object) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest('"version" must be a model version such as "v2".')
    return value


def parse_payload(payload: object, settings: Settings) -> PredictRequest:
    """A direct invocation: ``{"project_id", "inputs": [...], "top_k"?, "version"?}``."""
    if not isinstance(payload, dict):
        raise BadRequest("The request must be a JSON object.")
    project_id = payload.get("project_id")
    if not isinstance(project_id, str) or not project_id:
        raise BadRequest('"project_id" is missing; say which project should answer.')
    return PredictRequest(
        project_id=project_id,
        inputs=_decode_inputs(payload.get("inputs"), settings),
        top_k=_top_k(payload.get("top_k")),
        version=_version(payload.get("version")),
    )


def is_http_event(event: object) -> bool:
    """Function URL and HTTP API v2 events carry ``requestContext.http``."""
    return isinstance(event, dict) and isinstance(event.get("requestContext", {}).get("http"), dict)


def _bearer_token(headers: dict[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Send this project's API token as 'Authorization: Bearer <token>'; "
            "create one on the project's API page."
        )
    return token.strip()


def _body_bytes(event: dict) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            raise BadRequest("The request body is not valid base64.") from None
    return body.encode("utf-8")


def _json_inputs(body: bytes, settings: Settings) -> tuple[list[bytes | str], dict]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest('The JSON body must be an object such as {"text": "..."}.')
    if "inputs" in data:
        return _decode_inputs(data["inputs"], settings), data
    if "image_b64" in data:
        return [_decode_image_b64(1, data["image_b64"], settings)], data
    if "text" in data:
        return [_text(1, data["text"])], data
    if "texts" in data:
        texts = data["texts"]
        if not isinstance(texts, list):
            raise BadRequest('"texts" must be a list of strings.')
        _check_count(len(texts))
        return [_text(n, t) for n, t in enumerate(texts, start=1)], data
    raise BadRequest('Send "image_b64", "text", "texts" or "inputs" in the JSON body.')


def _multipart_inputs(
    body: bytes, mimetype: str, options: dict[str, str], settings: Settings
) -> tuple[list[bytes | str], dict]:
    # Images arrive as file parts; every part that is not a file is a text or a parameter.
    spooled: list = []

    def stream_factory(total_content_length, content_type, filename=None, content_length=None):
        # Remembered, so the files of a body that fails half-way are closed too.
        spooled.append(default_stream_factory(total_content_length, content_type, filename, content_length))
        return spooled[-1]

    parser = FormDataParser(
        stream_factory=stream_factory,
        max_content_length=MAX_BATCH * settings.image_max_bytes + 1024 * 1024,
        max_form_memory_size=MAX_BATCH * (settings.text_max_chars * 4 + 1024),
        max_form_parts=MAX_BATCH + 8,
        silent=False,
    )
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except (HTTPException, ValueError) as error:
        for stream in spooled:
            stream.close()
        if isinstance(error, HTTPException) and error.code == 413:
            raise PayloadTooLarge(
                f"The upload is too large: send at most {MAX_BATCH} images of at most "
                f"{_mib(settings.image_max_bytes)} each."
            ) from None
        # ValueError: werkzeug's parser on a body that is not multipart at all (e.g. empty).
        raise BadRequest("The multipart/form-data body could not be read.") from None
    uploads: list[FileStorage] = [f for _, f in files.items(multi=True)]
    try:
        images = [f.read() for f in uploads]
    finally:
        for upload in uploads:
            upload.close()  # werkzeug spools large parts to temporary files
    texts = form.getlist("text") + form.getlist("texts")
    if images and texts:
        raise BadRequest("Send either image files or text fields in one request, not both.")
    if images:
        _check_count(len(images))
        return images, form
    if texts:
        _check_count(len(texts))
        return texts, form
    raise BadRequest("The form has no image file and no 'text' field; attach an image or add a text.")


def parse_http_event(event: dict, settings: Settings) -> HttpRequest:
    """A Function URL / HTTP API v2 event for ``POST /projects/<id>/predict``.

    The body is JSON (``image_b64``, ``text``, ``texts`` or ``inputs``, plus ``top_k`` and
    ``version``) or multipart/form-data with image files or ``text`` fields.
    """
    match = _PATH.match(event.get("rawPath", ""))
    if not match:
        raise NotFound("No such endpoint; POST to /projects/<project_id>/predict.")
    if event["requestContext"]["http"].get("method", "").upper() != "POST":
        raise MethodNotAllowed("Use POST to ask for predictions.")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    token = _bearer_token(headers)
    mimetype, options = parse_options_header(headers.get("content-type", ""))
    body = _body_bytes(event)
    if mimetype == "application/json":
        inputs, fields = _json_inputs(body, settings)
    elif mimetype == "multipart/form-data":
        inputs, fields = _multipart_inputs(body, mimetype, options, settings)
    else:
        raise BadRequest("Send the body as application/json or multipart/form-data.")
    query = event.get("queryStringParameters") or {}
    return HttpRequest(
        token=token,
        request=PredictRequest(
            project_id=match.group(1),
            inputs=inputs,
            top_k=_top_k(fields.get("top_k", query.get("top_k"))),
            version=_version(fields.get("version", query.get("version"))),
        ),
    )


def http_response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
    }


def error_response(error: TeachboxError) -> dict:
    """The one mapping from a typed error to an HTTP answer: status and {error, message}."""
    return http_response(error.status, error.to_dict())
