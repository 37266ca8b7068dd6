"""The Teachbox website: a Flask app factory, blueprints per area, server-rendered pages.

``create_app(settings)`` builds everything a request needs (storage, invoker) once and
keeps it on ``app.extensions["teachbox"]``; nothing happens at import time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, request
from flask import Request as FlaskRequest
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from teachbox.invoker import LocalInvoker, create_invoker
from teachbox.settings import Settings, load_settings
from teachbox.storage import open_storage
from webapp.extensions import TeachboxServices, csrf

__all__ = ["create_app"]

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

# All scripts and styles are files under /static, so nothing inline is ever allowed to run.
# img-src allows data: and blob: for the thumbnails and webcam snapshot made in the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class _SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request itself came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


class _Request(FlaskRequest):
    """Remembers every spooled upload file so it is closed when the request ends, even when
    parsing stopped half-way (a 413 for too many parts leaves werkzeug's list unreachable)."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        stream = super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self.__dict__.setdefault("_upload_streams", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_upload_streams", []):
            stream.close()


def _set_security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app for ``settings`` (default: read from ``TEACHBOX_*`` variables)."""
    settings = settings or load_settings()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    if not settings.secret_key:
        _logger.warning("TEACHBOX_SECRET_KEY is empty: sessions end when this process stops")
    app.config.update(
        SECRET_KEY=settings.secret_key or os.urandom(32).hex(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        # Uploads are refused with 413 before they are read when they break these limits.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_FORM_PARTS=settings.max_form_parts,
        # Non-file fields: the largest is a class of pasted lines, as large as one CSV file.
        MAX_FORM_MEMORY_SIZE=settings.text_max_file_bytes,
        # The CSRF token lives as long as the session; a long upload must not expire it.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if settings.proxy_hops:
        # Behind TLS-terminating proxies: the client's address (login rate limit) and scheme
        # (Secure cookie) come from their headers, trusted for exactly that many hops.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    app.session_interface = _SessionInterface()
    app.request_class = _Request
    csrf.init_app(app)
    storage = open_storage(settings.storage, region=settings.aws_region,
                           endpoint_url=settings.s3_endpoint_url)
    invoker = create_invoker(storage, settings)
    app.extensions["teachbox"] = TeachboxServices(settings=settings, storage=storage, invoker=invoker)
    if isinstance(invoker, LocalInvoker):
        # Uploads this host acknowledged before a crash, whose preprocess died with it.
        invoker.resume_interrupted_uploads()
    app.after_request(_set_security_headers)
    # Pages print the limits they enforce, so they cannot drift from the settings.
    app.context_processor(lambda: {"config_limits": settings})

    from webapp.admin.routes import bp as admin_bp
    from webapp.api.pages import bp as api_pages_bp
    from webapp.api.routes import bp as api_bp
    from webapp.auth.routes import bp as auth_bp
    from webapp.errors.routes import bp as errors_bp
    from webapp.projects.routes import bp as projects_bp

    app.register_blueprint(errors_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(projects_bp)
    # The API checks CSRF itself: only for session calls, never for bearer tokens (webapp/api/auth.py).
    app.register_blueprint(csrf.exempt(api_bp))
    app.register_blueprint(api_pages_bp)
    app.register_blueprint(admin_bp)
    return app
