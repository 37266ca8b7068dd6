"""The project page's 'Use from code' section: API tokens (the secret shown once), curl examples
with this site's real URL and the project's id, and links to the current model's exports."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from teachbox.bundles import current_version
from teachbox.errors import BadRequest, NotFound
from teachbox.exports import list_exports
from teachbox.projects import Project
from teachbox.tokens import create_token, list_tokens, revoke_token
from webapp.api.errors import API_PREFIX
from webapp.api.forms import NewTokenForm, RevokeTokenForm
from webapp.auth.routes import login_required
from webapp.extensions import services
from webapp.projects.routes import get_project_or_404

__all__ = ["bp", "curl_examples", "use_from_code"]

_logger = logging.getLogger(__name__)

bp = Blueprint("api_pages", __name__)


def curl_examples(project: Project, secret: str = "") -> dict[str, str]:
    """Commands that work as printed once the token is filled in (tests run them)."""
    base = f"{request.url_root.rstrip('/')}{API_PREFIX}/projects/{project.id}"
    # Double quotes, so the shell expands $TEACHBOX_TOKEN (secrets are [A-Za-z0-9_-] only).
    auth = f'-H "Authorization: Bearer {secret or "$TEACHBOX_TOKEN"}"'
    if project.kind == "image":
        predict = f"curl -s {auth} -F 'image=@photo.jpg' {base}/predict"
        first = project.class_names[0] if project.class_names else "cat"
        upload = f"curl -s {auth} -F 'examples[{first}]=@{first}1.jpg' {base}/examples"
    else:
        predict = (f"curl -s {auth} -H 'Content-Type: application/json' "
                   f"-d '{{\"text\": \"some text to classify\"}}' {base}/predict")
        first = project.class_names[0] if project.class_names else "positive"
        upload = f"curl -s {auth} -F 'examples[{first}]=one example per line' {base}/examples"
    return {"predict": predict, "details": f"curl -s {auth} {base}", "examples": upload,
            "train": f"curl -s -X POST {auth} {base}/train"}


def use_from_code(project: Project) -> dict:
    """What the project page's 'Use from code' section shows."""
    storage = services().storage
    current = current_version(storage, project.id)
    try:
        exports = list_exports(storage, project.id, current) if current else []
    except NotFound:
        exports = []
    return {"tokens": list_tokens(storage, project.id), "token_form": NewTokenForm(),
            "curl": curl_examples(project), "exports": exports,
            "export_version": current, "openapi_url": url_for("api.openapi", _external=True)}


@bp.route("/projects/<project_id>/tokens", methods=["POST"])
@login_required
def new_token(project_id: str):
    project = get_project_or_404(project_id)
    form = NewTokenForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        token_id, secret = create_token(services().storage, project.id, project.owner, form.name.data)
    except BadRequest as error:
        flash(error.message)
        return redirect(url_for("projects.project_page", project_id=project.id, _anchor="use-from-code"))
    # Rendered, not redirected: the secret must never sit in a URL, a flash cookie or storage.
    response = render_template("api/token_created.html", project=project, name=form.name.data.strip(),
                               token_id=token_id, secret=secret, curl=curl_examples(project, secret))
    return response, 201, {"Cache-Control": "no-store"}


@bp.route("/projects/<project_id>/tokens/revoke", methods=["POST"])
@login_required
def revoke(project_id: str):
    project = get_project_or_404(project_id)
    form = RevokeTokenForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        revoke_token(services().storage, project.id, form.token_id.data)
    except NotFound:
        abort(404)
    flash("The token is revoked: programs using it are refused from now on.")
    return redirect(url_for("projects.project_page", project_id=project.id, _anchor="use-from-code"))


@bp.app_context_processor
def _use_from_code_context() -> dict:
    # The project page's template calls it, so that page's view stays the projects area's own.
    return {"use_from_code": use_from_code}
