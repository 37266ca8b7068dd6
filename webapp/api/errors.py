"""The API's one error shape, ``{"error": code, "message": sentence}``, and how to tell an API request.

The site's error handlers (webapp/errors) answer every error; for a request under ``/api/``
they call ``error_response``, so typed errors, 404/405 from routing, 413 from the upload limit
and CSRF failures all leave the API in this one shape.
"""

from __future__ import annotations

from flask import Response, jsonify, request

__all__ = ["API_PREFIX", "CODES", "error_response", "is_api_request"]

API_PREFIX = "/api/v1"

# The code is derived from the status alone, so one status never means two codes.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
}


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(f"{API_PREFIX}/")


def error_response(status: int, message: str) -> tuple[Response, int]:
    """The JSON answer for every API error; 401s also say which scheme to use."""
    response = jsonify({"error": CODES.get(status, "error"), "message": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="teachbox"'
    return response, status
