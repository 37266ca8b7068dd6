"""The inference Lambda's entry point: ``handler(event, context)``.

Settings and storage are built once per process, on the first event rather than at import
(importing has no side effects), and reused while the container stays warm; the model cache
is the process-wide one ``predict`` uses.

Two event shapes:

- a direct invocation (the web app's ``LambdaInvoker``): the ``handle`` payload in, its result
  dict out, or ``error_to_payload(error)`` for a TeachboxError;
- a Function URL / HTTP API v2 event for ``POST /projects/<id>/predict`` with a project API
  token: an HTTP response whose body is the same result, or ``{"error", "message"}``.

Neither ever returns a traceback or a server path: unexpected failures are logged here and
answered with a generic 500.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from lambda_infer.cache import TokenCache
from lambda_infer.events import error_response, http_response, is_http_event, parse_http_event
from lambda_infer.service import handle, predict
from teachbox.errors import Forbidden, TeachboxError, error_to_payload
from teachbox.projects import load_project
from teachbox.settings import Settings, load_settings
from teachbox.storage import Storage, open_storage

__all__ = ["handler", "INTERNAL_ERROR"]

_logger = logging.getLogger(__name__)

INTERNAL_ERROR = TeachboxError("The prediction failed on our side; try again in a moment.")

_state: tuple[Settings, Storage, TokenCache] | None = None
_state_lock = threading.Lock()


def _process_state() -> tuple[Settings, Storage, TokenCache]:
    global _state
    with _state_lock:
        if _state is None:
            settings = load_settings()
            storage = open_storage(settings.storage, region=settings.aws_region,
                                   endpoint_url=settings.s3_endpoint_url)
            _state = (settings, storage, TokenCache(settings.infer_refresh_seconds))
        return _state


def _answer_http(event: dict, settings: Settings, storage: Storage, tokens: TokenCache) -> dict:
    http = parse_http_event(event, settings)
    request = http.request
    if not tokens.verify(storage, request.project_id, http.token):
        load_project(storage, request.project_id)  # 404 rather than 403 when the id names nothing
        raise Forbidden("This API token is not valid for this project; it may have been revoked.")
    result = predict(request.project_id, request.inputs, storage, settings,
                     top_k=request.top_k, version=request.version)
    return http_response(200, result)


def handler(event: dict, context: Any) -> dict:
    """Lambda entry point for direct invocations and Function URL / HTTP API v2 events."""
    settings, storage, tokens = _process_state()
    if is_http_event(event):
        try:
            return _answer_http(event, settings, storage, tokens)
        except TeachboxError as error:
            return error_response(error)
        except Exception:
            _logger.exception("prediction failed (HTTP %s)", event.get("rawPath", ""))
            return error_response(INTERNAL_ERROR)
    try:
        return handle(event, storage, settings)
    except TeachboxError as error:
        return error_to_payload(error)
    except Exception:
        _logger.exception("prediction failed (direct invocation)")
        return error_to_payload(INTERNAL_ERROR)
