"""Every error answered in one place: an HTML page, or JSON for the polling endpoints."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from teachbox.errors import TeachboxError
from webapp.api.errors import error_response, is_api_request
from webapp.extensions import services

__all__ = ["bp", "wants_json"]

_logger = logging.getLogger(__name__)

bp = Blueprint("errors", __name__)

_SENTENCES = {
    400: "The request could not be understood. Go back and try again.",
    404: "There is nothing here, or it belongs to someone else.",
    405: "That action is not available on this page.",
    500: "Something went wrong on our side. Try again; if it keeps happening, tell the administrator.",
}


def wants_json() -> bool:
    return (
        request.path.endswith(".json")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
        or request.accept_mimetypes.best == "application/json"
    )


def _answer(status: int, message: str, code: str):
    if is_api_request():
        return error_response(status, message)
    if wants_json():
        return jsonify({"error": code, "message": message}), status
    return render_template("errors/error.html", status=status, message=message), status


def _too_large_sentence() -> str:
    settings = services().settings
    megabytes = settings.max_upload_bytes // (1024 * 1024)
    return (
        f"This upload is too large: one upload may hold at most {megabytes} MB and "
        f"about {settings.max_form_parts - 20} files. Send fewer or smaller files."
    )


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    return _answer(413, _too_large_sentence(), "payload_too_large")


@bp.app_errorhandler(CSRFError)
def csrf_failed(error: CSRFError):
    return _answer(
        400, "This form has expired or did not come from this site. Reload the page and send it again.",
        "csrf_failed",
    )


@bp.app_errorhandler(TeachboxError)
def teachbox_error(error: TeachboxError):
    return _answer(error.status, error.message, error.code)


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    status = error.code or 500
    return _answer(status, _SENTENCES.get(status, error.description or ""), str(status))


@bp.app_errorhandler(Exception)
def unexpected(error: Exception):
    _logger.exception("unhandled error on %s", request.path)
    return _answer(500, _SENTENCES[500], "internal_error")
