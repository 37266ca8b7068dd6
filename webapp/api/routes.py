"""The REST API under /api/v1: JSON in and out, a project token or the site session.

Each route loads its project through ``project_for_request`` and calls the same core and
invoker functions as the site's pages; errors are raised as ``teachbox.errors`` types and
answered by the site's handlers in the one API shape (see webapp/api/errors.py).
"""

from __future__ import annotations

import base64
import logging
import re
import tempfile

from flask import Blueprint, Response, g, jsonify, request, send_file, url_for
from werkzeug.datastructures import FileStorage

from teachbox.bundles import ModelMeta, current_version, list_versions, load_model_meta
from teachbox.errors import BadRequest, Conflict, NotFound
from teachbox.exports import list_exports, open_export
from teachbox.featurizers.catalog import check_featurizer_name
from teachbox.jobs import JobRecord, get_job, queue_position
from teachbox.project_export import export_project as write_project_export
from teachbox.projects import Project, create_project, validate_class_names
from teachbox.records import iso
from teachbox.tokens import create_token, list_tokens, revoke_token
from teachbox.uploads import UploadStatus, get_upload_status
from webapp.api.auth import check_csrf, project_for_request, require_user
from webapp.api.errors import API_PREFIX
from webapp.api.openapi import openapi_document
from webapp.extensions import services
from webapp.projects.forms import class_limits
from webapp.projects.training import (
    ChosenFile,
    UploadRequest,
    latest_dataset_id,
    retrain_latest,
    stage_upload,
)

__all__ = ["bp"]

_logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
bp.before_request(check_csrf)

_EXAMPLES_FIELD = re.compile(r"^examples\[(.+)\]$")


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object as the body, with 'Content-Type: application/json'.")
    return data


def _accepted(payload: dict, location: str) -> tuple[Response, int]:
    response = jsonify(payload)
    response.headers["Location"] = location
    return response, 202


# --- OpenAPI ---------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


# --- Projects --------------------------------------------------------------------------------

def _version_summary(project: Project, meta: ModelMeta) -> dict:
    return {
        "version": meta.version,
        "created": iso(meta.created),
        "dataset_id": meta.dataset_id,
        "job_id": meta.job_id,
        "accuracy": meta.metrics.get("accuracy"),
        "macro_f1": meta.metrics.get("macro_f1"),
        "url": url_for("api.version", project_id=project.id, version=meta.version, _external=True),
    }


def _project_payload(project: Project) -> dict:
    storage = services().storage
    current = current_version(storage, project.id)
    versions = list_versions(storage, project.id)
    metrics = next((m.metrics for m in versions if m.version == current), {})
    return {
        "id": project.id,
        "name": project.name,
        "kind": project.kind,
        "class_names": project.class_names,
        "owner": project.owner,
        "created": iso(project.created),
        "current_version": current,
        "metrics": metrics,
        "versions": [_version_summary(project, meta) for meta in versions],
    }


@bp.post("/projects")
def create():
    require_user()
    data = _json_body()
    kind = data.get("kind")
    names = data.get("class_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest('"class_names" must be a list of class names, such as ["cat", "dog"].')
    if kind in ("image", "text"):
        low, high = class_limits(kind, services().settings)
        if not low <= len(names) <= high:
            article = "An" if kind == "image" else "A"
            raise BadRequest(f"{article} {kind} project needs {low} to {high} classes; "
                             f"\"class_names\" has {len(names)}.")
    project = create_project(services().storage, g.user.username, str(data.get("name") or ""),
                             str(kind or ""), names)
    _logger.info("project %s created through the API by %s", project.id, g.user.username)
    response = jsonify(_project_payload(project))
    response.headers["Location"] = url_for("api.project", project_id=project.id, _external=True)
    return response, 201


@bp.get("/projects/<project_id>")
def project(project_id: str):
    return jsonify(_project_payload(project_for_request(project_id)))


@bp.get("/projects/<project_id>/versions/<version>")
def version(project_id: str, version: str):
    project = project_for_request(project_id)
    storage = services().storage
    meta = load_model_meta(storage, project.id, version)
    exports = [{"name": f.name, "size": f.size, "media_type": f.media_type, "description": f.description,
                "url": url_for("api.export", project_id=project.id, version=meta.version, name=f.name,
                               _external=True)}
               for f in list_exports(storage, project.id, meta.version)]
    return jsonify({**_version_summary(project, meta), "class_names": meta.class_names,
                    "current": meta.version == current_version(storage, project.id),
                    "metrics": meta.metrics, "exports": exports})


@bp.get("/projects/<project_id>/versions/<version>/exports/<name>")
def export(project_id: str, version: str, name: str):
    project = project_for_request(project_id)
    stream, export_file = open_export(services().storage, project.id, version, name)
    return send_file(stream, mimetype=export_file.media_type, as_attachment=True,
                     download_name=name, max_age=0)


# --- Examples and training -------------------------------------------------------------------

def _examples_by_class(
    project: Project,
) -> tuple[list[str], list[tuple[str, FileStorage]], dict[str, list[str]]]:
    """The class list after this upload, the files by class name and (text) pasted lines."""
    files, pasted, unknown = [], {}, []
    for field_name, upload in request.files.items(multi=True):
        match = _EXAMPLES_FIELD.match(field_name)
        if not match:
            unknown.append(field_name)
        elif upload.filename:
            files.append((match.group(1).strip(), upload))
    for field_name, value in request.form.items(multi=True):
        match = _EXAMPLES_FIELD.match(field_name)
        if not match:
            if field_name not in ("augment", "model"):
                unknown.append(field_name)
        elif project.kind == "image":
            raise BadRequest(f"Field {field_name!r} holds text, but this is an image project; "
                             f"attach image files instead (curl: -F '{field_name}=@photo.jpg').")
        elif value.strip():
            pasted.setdefault(match.group(1).strip(), []).append(value)
    if unknown:
        raise BadRequest(f"Unknown form field {unknown[0]!r}: name each example part "
                         "'examples[<class name>]', such as examples[cat].")
    if not files and not pasted:
        raise BadRequest("Send examples as multipart/form-data parts named 'examples[<class name>]' "
                         "(curl: -F 'examples[cat]=@cat1.jpg').")
    names = list(project.class_names)
    folded = {n.casefold() for n in names}
    for name, _ in [*files, *((n, None) for n in pasted)]:
        if name.casefold() not in folded:
            names.append(name)
            folded.add(name.casefold())
    return validate_class_names(names), files, pasted


def _class_index(names: list[str], name: str) -> int:
    return [n.casefold() for n in names].index(name.casefold())


@bp.post("/projects/<project_id>/examples")
def add_examples(project_id: str):
    project = project_for_request(project_id)
    if not request.mimetype == "multipart/form-data":
        raise BadRequest("Send examples as multipart/form-data, one part per file named "
                         "'examples[<class name>]'.")
    names, files, pasted = _examples_by_class(project)
    try:  # checked before anything is staged; preprocess checks it again
        model = check_featurizer_name(request.form.get("model") or project.featurizer, project.kind)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    storage = services().storage
    upload_id = stage_upload(storage, services().invoker, UploadRequest(
        owner=project.owner, project_id=project.id, project_name=project.name, kind=project.kind,
        class_names=names,
        files=[ChosenFile(_class_index(names, name), upload.filename or "", upload.stream)
               for name, upload in files],
        pasted={str(_class_index(names, name)): "\n".join(lines) for name, lines in pasted.items()},
        featurizer=model,
        augment=request.form.get("augment", "").lower() in ("1", "true", "yes", "on"),
        base_dataset_id=latest_dataset_id(storage, project.id),
    ))
    status_url = url_for("api.upload", project_id=project.id, upload_id=upload_id, _external=True)
    return _accepted({"upload_id": upload_id, "state": "validating", "status_url": status_url}, status_url)


@bp.post("/projects/<project_id>/examples/archive")
def add_examples_archive(project_id: str):
    """Examples from a zip of class folders (text: or one CSV per class)."""
    project = project_for_request(project_id)
    upload = request.files.get("archive")
    if upload is None or not upload.filename:
        raise BadRequest("Send the zip as a multipart/form-data part named 'archive' "
                         "(curl: -F 'archive=@photos.zip').")
    storage = services().storage
    upload_id = stage_upload(storage, services().invoker, UploadRequest(
        owner=project.owner, project_id=project.id, project_name=project.name, kind=project.kind,
        class_names=list(project.class_names), archive=ChosenFile(None, upload.filename, upload.stream),
        featurizer=project.featurizer, base_dataset_id=latest_dataset_id(storage, project.id),
    ))
    status_url = url_for("api.upload", project_id=project.id, upload_id=upload_id, _external=True)
    return _accepted({"upload_id": upload_id, "state": "validating", "status_url": status_url}, status_url)


@bp.get("/projects/<project_id>/export")
def export_project(project_id: str):
    """The whole project as one zip (see teachbox.project_export), to import elsewhere."""
    project = project_for_request(project_id)
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    write_project_export(services().storage, project.id, spool)
    spool.seek(0)
    return send_file(spool, mimetype="application/zip", as_attachment=True,
                     download_name=f"{project.id}-teachbox-project.zip", max_age=0)


def _upload_of_project(project: Project, upload_id: str) -> UploadStatus:
    status = get_upload_status(services().storage, upload_id) if upload_id.isalnum() else None
    if status is None or status.project_id != project.id:
        raise NotFound("No such upload in this project.")
    return status


@bp.get("/projects/<project_id>/uploads/<upload_id>")
def upload(project_id: str, upload_id: str):
    project = project_for_request(project_id)
    status = _upload_of_project(project, upload_id)
    job_url = (url_for("api.job", project_id=project.id, job_id=status.job_id, _external=True)
               if status.job_id else None)
    return jsonify({"upload_id": status.upload_id, "state": status.state, "message": status.message,
                    "problems": status.problems, "progress": status.progress, "notes": status.notes,
                    "job_id": status.job_id or None, "job_url": job_url})


@bp.post("/projects/<project_id>/train")
def train(project_id: str):
    project = project_for_request(project_id)
    started = retrain_latest(services().storage, services().invoker, project)
    if started is None:
        raise Conflict("This project has no examples to train on yet; upload some first "
                       f"(POST {API_PREFIX}/projects/{project.id}/examples).")
    if started.job is not None:
        status_url = url_for("api.job", project_id=project.id, job_id=started.job.job_id, _external=True)
        payload = {"state": started.job.state, "job_id": started.job.job_id, "upload_id": None}
    else:
        # Pending examples from the Inference page go through preprocess first, as an upload.
        status_url = url_for("api.upload", project_id=project.id, upload_id=started.upload_id, _external=True)
        payload = {"state": "validating", "job_id": None, "upload_id": started.upload_id}
    return _accepted({**payload, "status_url": status_url}, status_url)


def _job_of_project(project: Project, job_id: str) -> JobRecord:
    try:
        job = get_job(services().storage, job_id)
    except (NotFound, ValueError):
        job = None
    if job is None or job.project_id != project.id:
        raise NotFound("No such training job in this project.")
    return job


@bp.get("/projects/<project_id>/jobs/<job_id>")
def job(project_id: str, job_id: str):
    project = project_for_request(project_id)
    job = _job_of_project(project, job_id)
    return jsonify({
        "job_id": job.job_id,
        "state": job.state,
        "terminal": job.status.is_terminal,
        "phase": job.progress.get("phase", ""),
        "percent": job.progress.get("percent", 0),
        "queue_position": queue_position(services().storage, job),
        "created": iso(job.created),
        "started": iso(job.started) or None,
        "finished": iso(job.finished) or None,
        "error": job.error or None,
        "model_version": job.model_version or None,
    })


# --- Predict ---------------------------------------------------------------------------------

def _listed(value: object, field: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise BadRequest(f'"{field}" must be a string or a list of strings.')
    return values


def _predict_inputs() -> tuple[list[dict], object, object]:
    """The invocation's inputs, top_k and version, from a JSON body or a multipart form."""
    if request.mimetype == "multipart/form-data":
        images = [f.read() for _, f in request.files.items(multi=True) if f.filename]
        texts = request.form.getlist("text")
        if images and texts:
            raise BadRequest("Send either image files or 'text' fields in one request, not both.")
        inputs = ([{"image_b64": base64.b64encode(data).decode()} for data in images]
                  + [{"text": text} for text in texts])
        if not inputs:
            raise BadRequest("The form has no image file and no 'text' field; "
                             "attach an image (curl: -F 'image=@photo.jpg') or add a text.")
        return inputs, request.form.get("top_k"), request.form.get("version")
    if request.mimetype != "application/json":
        raise BadRequest("Send JSON ({\"text\": ...} or {\"image_b64\": ...}) or multipart/form-data "
                         "with image files.")
    data = _json_body()
    if "image_b64" in data:
        inputs = [{"image_b64": v} for v in _listed(data["image_b64"], "image_b64")]
    elif "text" in data:
        inputs = [{"text": v} for v in _listed(data["text"], "text")]
    else:
        raise BadRequest('Send "text" (a string or a list) or "image_b64" (base64 of an image file, '
                         'or a list of them) in the JSON body.')
    return inputs, data.get("top_k"), data.get("version")


@bp.post("/projects/<project_id>/predict")
def predict(project_id: str):
    project = project_for_request(project_id)
    inputs, top_k, version = _predict_inputs()
    result = services().invoker.call("infer", {"project_id": project.id, "inputs": inputs,
                                               "top_k": top_k, "version": version})
    return jsonify({key: result[key] for key in ("project_id", "version", "kind", "predictions")})


# --- Tokens (session only) -------------------------------------------------------------------

@bp.get("/projects/<project_id>/tokens")
def tokens(project_id: str):
    project = project_for_request(project_id, token_allowed=False)
    return jsonify({"tokens": [{**t.to_public_dict(), "created": iso(t.created)}
                               for t in list_tokens(services().storage, project.id)]})


@bp.post("/projects/<project_id>/tokens")
def new_token(project_id: str):
    project = project_for_request(project_id, token_allowed=False)
    name = _json_body().get("name")
    if not isinstance(name, str):
        raise BadRequest('"name" must be a string: say which program will use the token.')
    token_id, secret = create_token(services().storage, project.id, g.user.username, name)
    return jsonify({"token_id": token_id, "name": name.strip(), "project_id": project.id,
                    "secret": secret}), 201


@bp.delete("/projects/<project_id>/tokens/<token_id>")
def delete_token(project_id: str, token_id: str):
    project = project_for_request(project_id, token_allowed=False)
    revoke_token(services().storage, project.id, token_id)
    return Response(status=204)
