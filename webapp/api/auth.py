"""Who may call an API route: a project's bearer token, or the site session of its owner or an admin.

A token belongs to one project: it answers that project's routes and nothing else. A wrong,
revoked or other project's token is 401 before the project is even read, so a token never
tells whether some other project id exists. With the session, a missing project and another
person's project are the same 404, as on the site.
"""

from __future__ import annotations

from flask import g, request

from teachbox.errors import Forbidden, NotFound, Unauthorized
from teachbox.projects import Project, load_project
from teachbox.tokens import verify_token
from webapp.extensions import csrf, services

__all__ = ["SAFE_METHODS", "bearer_secret", "check_csrf", "require_user", "project_for_request"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NO_CREDENTIALS = ("Send this project's API token as 'Authorization: Bearer <token>' (create one under "
                  "'Use from code' on the project page), or sign in on the site.")
BAD_TOKEN = ("This API token is not valid for this project: it was revoked, mistyped, or made for "
             "another project. Create a new one under 'Use from code' on the project page.")
SESSION_ONLY = ("API tokens belong to one project and cannot create projects or manage tokens; "
                "do this signed in on the site.")


def bearer_secret() -> str | None:
    """The bearer token sent, None if no Authorization header; another scheme is refused."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'; other schemes are not accepted.")
    return secret.strip()


def check_csrf() -> None:
    """Session calls that change something must carry the page's CSRF token (X-CSRFToken), as a
    form would; a bearer token cannot be sent by another site's page, so it needs none."""
    if (request.method not in SAFE_METHODS and g.user is not None
            and request.headers.get("Authorization") is None):
        csrf.protect()


def require_user() -> None:
    """A signed-in user, for routes a token may not call."""
    if bearer_secret() is not None:
        raise Forbidden(SESSION_ONLY)
    if g.user is None:
        raise Unauthorized(NO_CREDENTIALS)


def project_for_request(project_id: str, *, token_allowed: bool = True) -> Project:
    """The project this request may act on, or the 401/403/404 that says why not."""
    storage = services().storage
    secret = bearer_secret()
    if secret is not None:
        if not verify_token(storage, project_id, secret):
            raise Unauthorized(BAD_TOKEN)
        if not token_allowed:
            raise Forbidden(SESSION_ONLY)
        return load_project(storage, project_id)
    if g.user is None:
        raise Unauthorized(NO_CREDENTIALS)
    project = load_project(storage, project_id)
    if project.owner != g.user.username and not g.user.is_admin:
        raise NotFound("No such project.")
    return project
