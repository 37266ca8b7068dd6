"""The preprocess Lambda's entry point.

Accepts the payload the web app sends with an ``Event`` invoke, or an S3 event for a
``staging/<upload_id>/request.json`` object holding that payload. Settings and storage are
built from the environment once per container, on the first call, so importing this module
(in tests, or by the invoker) has no side effects.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote_plus

from lambda_preprocess.preprocess import handle
from teachbox.settings import Settings, load_settings
from teachbox.storage import ObjectNotFound, S3Storage, Storage, open_storage

__all__ = ["handler", "payloads_from_event", "runtime"]

_logger = logging.getLogger(__name__)

_REQUEST_NAME = "request.json"


@functools.cache
def runtime() -> tuple[Storage, Settings]:
    """Settings and storage for this container (``runtime.cache_clear()`` rebuilds them)."""
    settings = load_settings()
    storage = open_storage(settings.storage, region=settings.aws_region,
                           endpoint_url=settings.s3_endpoint_url)
    return storage, settings


def _storage_key(storage: Storage, s3_key: str) -> str:
    """An S3 event names the bucket key; our keys are relative to the storage prefix."""
    key = unquote_plus(s3_key)
    prefix = storage.prefix if isinstance(storage, S3Storage) else ""
    return key[len(prefix):] if prefix and key.startswith(prefix) else key


def payloads_from_event(event: dict, storage: Storage) -> list[dict]:
    """The preprocess payloads an event carries: itself, or one per S3 ``request.json`` record."""
    if "Records" not in event:
        return [event]
    payloads = []
    for record in event["Records"]:
        key = _storage_key(storage, record["s3"]["object"]["key"])
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "staging" or parts[2] != _REQUEST_NAME:
            _logger.warning("ignoring S3 event for %r: not a staging request", key)
            continue
        try:
            payload = storage.get_json(key)
        except ObjectNotFound:
            _logger.warning("ignoring S3 event for %r: the object is gone (handled already)", key)
            continue
        if payload.get("upload_id") != parts[1]:
            _logger.warning("ignoring %r: it describes upload %r", key, payload.get("upload_id"))
            continue
        payloads.append(payload)
    return payloads


def handler(event: dict, context: Any) -> dict:
    storage, settings = runtime()
    results = [handle(payload, storage, settings) for payload in payloads_from_event(event, storage)]
    if len(results) == 1:
        return results[0]
    return {"ok": all(r.get("ok") for r in results), "results": results}
