"""Projects: Train (upload), upload and job status, details with metrics, inference.

Every route that takes a project id loads it through ``get_project_or_404``.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import time

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from teachbox.bundles import current_version, list_versions, load_model_meta, promote_model
from teachbox.datasets import DatasetManifest, load_manifest, sample_key
from teachbox.errors import BadRequest, NotFound, TeachboxError
from teachbox.feedback import (
    add_pending,
    list_pending,
    pending_counts,
    read_pending,
    remove_pending,
    retrain_upload_in_progress,
    settle_retrain,
    start_pending_retrain,
)
from teachbox.ingest import ImageRejected, normalize_image
from teachbox.jobs import (
    JobRecord,
    JobStatus,
    get_job,
    list_project_jobs,
    queue_position,
    request_cancel,
    submit_job,
)
from teachbox.projects import KINDS, Project, list_projects, load_project, save_project
from teachbox.records import iso
from teachbox.storage import ObjectNotFound, new_id
from teachbox.uploads import (
    UploadState,
    UploadStatus,
    get_upload_status,
)
from webapp.auth.routes import login_required
from webapp.errors.routes import wants_json
from webapp.extensions import services
from webapp.projects.charts import confusion_heatmap, learning_curves
from webapp.projects.forms import (
    CancelForm,
    FeedbackForm,
    PredictForm,
    PromoteForm,
    RemovePendingForm,
    RetrainForm,
    TrainForm,
    chosen_files,
    class_limits,
    pasted_lines,
)
from webapp.projects.training import ChosenFile, UploadRequest, latest_dataset_id, stage_upload

__all__ = ["bp", "get_project_or_404"]

_logger = logging.getLogger(__name__)

bp = Blueprint("projects", __name__)


@bp.app_template_filter("when")
def _when(timestamp: float) -> str:
    return iso(timestamp)


@bp.app_template_filter("percent")
def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _may_see(owner: str) -> bool:
    return g.user is not None and (owner == g.user.username or g.user.is_admin)


def get_project_or_404(project_id: str) -> Project:
    """The project if the signed-in user owns it (admins: any); 404 for missing and
    not-yours alike, so ids of other people's projects reveal nothing."""
    try:
        project = load_project(services().storage, project_id)
    except NotFound:
        abort(404)
    if not _may_see(project.owner):
        abort(404)
    return project


def _job_of_project_or_404(project: Project, job_id: str) -> JobRecord:
    try:
        job = get_job(services().storage, job_id)
    except (NotFound, ValueError):
        abort(404)
    if job.project_id != project.id:
        abort(404)
    return job


def _upload_or_404(upload_id: str) -> UploadStatus:
    if not upload_id.isalnum():
        abort(404)
    try:
        status = get_upload_status(services().storage, upload_id)
    except NotFound:
        abort(404)
    if not _may_see(status.owner):
        abort(404)
    return status


def _kind_or_404(kind: str) -> str:
    if kind not in KINDS:
        abort(404)
    return kind


@bp.route("/")
@login_required
def index():
    storage = services().storage
    projects = list_projects(storage, owner=None if g.user.is_admin else g.user.username)
    rows = [{"project": p, "current": current_version(storage, p.id)} for p in projects]
    return render_template("projects/index.html", rows=rows)


# --- Train ------------------------------------------------------------------------------

def _entries_key(upload_id: str) -> str:
    return f"webforms/{upload_id}.json"


def _requested_class_count(kind: str) -> int:
    low, _ = class_limits(kind, services().settings)
    try:
        return int(request.values.get("num_classes", low))
    except ValueError:
        return low


def _stage_upload(form: TrainForm, kind: str, existing: Project | None) -> str:
    """Record the entries (to refill the form if preprocess rejects it), then stage the files
    and hand the upload to preprocess in the background."""
    storage = services().storage
    upload_id = new_id()
    files, chosen_names, pasted = [], {}, {}
    for i in range(form.class_count):
        field = form[f"class_{i}_files"]
        chosen = chosen_files(field)
        chosen_names[field.name] = [f.filename for f in chosen]
        files += [ChosenFile(i, upload.filename, upload.stream) for upload in chosen]
        if kind == "text" and pasted_lines(form[f"class_{i}_text"].data):
            pasted[str(i)] = form[f"class_{i}_text"].data
    labelled = None
    if kind == "text" and chosen_files(form.labelled_csv):
        upload = chosen_files(form.labelled_csv)[0]
        labelled = ChosenFile(None, upload.filename, upload.stream)
        chosen_names["labelled_csv"] = [upload.filename]
    storage.put_json(_entries_key(upload_id), {
        "kind": kind,
        "project_name": form.project_name.data,
        "num_classes": form.class_count,
        "class_names": form.class_names(),
        "pasted": pasted,
        "augment": bool(form.augment.data),
        "model": form.model.data,
        "files": chosen_names,
        "project": existing.id if existing else "",
    })
    return stage_upload(storage, services().invoker, UploadRequest(
        owner=g.user.username, project_id=existing.id if existing else new_id(),
        project_name=form.project_name.data, kind=kind, class_names=form.class_names(),
        files=files, pasted=pasted, labelled_csv=labelled,
        featurizer=form.model.data, augment=bool(form.augment.data),
        base_dataset_id=latest_dataset_id(storage, existing.id) if existing else "",
    ), upload_id=upload_id)


def _refill_from_rejected(form: TrainForm, upload_id: str) -> list[str]:
    """Put a rejected upload's entries and problems back on the form; returns the problems
    that belong to no single field, and which files must be chosen again."""
    status = _upload_or_404(upload_id)
    try:
        entries = services().storage.get_json(_entries_key(upload_id))
    except ObjectNotFound:
        entries = {}
    form.project_name.data = entries.get("project_name", "")
    form.project.data = entries.get("project", "")
    form.augment.data = entries.get("augment", False)
    form.model.data = entries.get("model") or form.model.data
    for i, name in enumerate(entries.get("class_names", [])[: form.class_count]):
        form[f"class_{i}_name"].data = name
        if form.kind == "text":
            form[f"class_{i}_text"].data = entries.get("pasted", {}).get(str(i), "")
    general = []
    for problem in status.problems:
        message = problem.get("message") or problem.get("reason", "")
        name = problem.get("field", "")
        if name in form and name not in ("submit", "resize", "csrf_token"):
            form[name].errors = [*form[name].errors, message]
        else:
            general.append(message)
    if status.state == UploadState.ERROR.value and status.message:
        general.append(status.message)
    for field_name, names in entries.get("files", {}).items():
        if names and field_name in form:
            form[field_name].description = (
                f"Choose these {len(names)} file{'s' if len(names) != 1 else ''} again "
                f"(browsers cannot keep chosen files): {', '.join(names[:5])}"
                + (f" and {len(names) - 5} more." if len(names) > 5 else ".")
            )
    return general


@bp.route("/<kind>/train", methods=["GET", "POST"])
@login_required
def train(kind: str):
    _kind_or_404(kind)
    settings = services().settings
    retry = request.args.get("retry", "")
    count = _requested_class_count(kind)
    entries: dict = {}
    if retry and request.method == "GET":
        try:
            entries = services().storage.get_json(_entries_key(retry))
            count = entries.get("num_classes", count)
        except ObjectNotFound:
            pass
    existing = None
    project_id = request.values.get("project") or entries.get("project", "")
    if project_id:
        existing = get_project_or_404(project_id)
        if existing.kind != kind:
            abort(404)
        if request.method == "GET" and not retry and "num_classes" not in request.args:
            count = len(existing.class_names)
    form = TrainForm(kind, count, settings, extending=existing is not None)
    if existing and request.method == "GET" and not retry:
        form.project.data = existing.id
        form.project_name.data = existing.name
        form.model.data = existing.featurizer or form.model.data  # retrain keeps it unless changed
        for i, name in enumerate(existing.class_names[: form.class_count]):
            form[f"class_{i}_name"].data = name
    general: list[str] = []
    if request.method == "POST" and form.resize.data:
        # The no-JavaScript second step: re-render with the chosen number of class fields.
        form.num_classes.data = form.class_count
        return render_template("projects/train.html", form=form, kind=kind, general=general,
                               existing=existing)
    if form.validate_on_submit():
        upload_id = _stage_upload(form, kind, existing)
        target = url_for("projects.upload_page", upload_id=upload_id)
        if wants_json():
            return jsonify({"upload_id": upload_id, "page_url": target,
                            "status_url": url_for("projects.upload_json", upload_id=upload_id)}), 202
        return redirect(target)
    if request.method == "GET" and retry:
        general = _refill_from_rejected(form, retry)
    form.num_classes.data = form.class_count
    if request.method == "POST" and wants_json():
        errors = {name: list(field.errors) for name, field in form._fields.items() if field.errors}
        return jsonify({"error": "validation_failed",
                        "message": "Some fields need attention; see the messages next to them.",
                        "fields": errors}), 400
    return render_template("projects/train.html", form=form, kind=kind, general=general,
                           existing=existing)


def _upload_payload(status: UploadStatus) -> dict:
    if status.state != UploadState.VALIDATING.value:
        settle_retrain(services().storage, status.project_id)
    next_url = ""
    if status.state == UploadState.QUEUED.value and status.job_id:
        next_url = url_for("projects.job_page", project_id=status.project_id, job_id=status.job_id)
    elif status.state in (UploadState.REJECTED.value, UploadState.ERROR.value):
        try:
            kind = services().storage.get_json(_entries_key(status.upload_id)).get("kind", "image")
        except ObjectNotFound:
            kind = "image"
        next_url = url_for("projects.train", kind=kind, retry=status.upload_id)
    return {
        "upload_id": status.upload_id,
        "state": status.state,
        "message": status.message,
        "problems": status.problems,
        "progress": status.progress,
        "notes": status.notes,
        "job_id": status.job_id,
        "next_url": next_url,
    }


@bp.route("/uploads/<upload_id>.json")
@login_required
def upload_json(upload_id: str):
    return jsonify(_upload_payload(_upload_or_404(upload_id)))


@bp.route("/uploads/<upload_id>")
@login_required
def upload_page(upload_id: str):
    payload = _upload_payload(_upload_or_404(upload_id))
    if payload["next_url"]:
        return redirect(payload["next_url"])
    return render_template("projects/upload.html", upload=payload)


# --- Jobs --------------------------------------------------------------------------------

def _job_payload(project: Project, job: JobRecord) -> dict:
    storage = services().storage
    progress = dict(job.progress)
    if job.started and not job.status.is_terminal:
        progress["elapsed"] = round(time.time() - job.started, 1)
    elif job.started and job.finished:
        progress["elapsed"] = round(job.finished - job.started, 1)
    next_url = ""
    if job.status is JobStatus.SUCCEEDED and job.model_version and job.options.get("compare"):
        # A comparison ends beside the version it was trained to be compared with.
        next_url = url_for("projects.compare_page", project_id=project.id)
    elif job.status is JobStatus.SUCCEEDED and job.model_version:
        next_url = url_for("projects.details", project_id=project.id, version=job.model_version)
    return {
        "job_id": job.job_id,
        "state": job.state,
        "terminal": job.status.is_terminal,
        "progress": {
            "phase": progress.get("phase", ""),
            "percent": progress.get("percent", 0),
            "elapsed": progress.get("elapsed"),
            "eta_seconds": progress.get("eta_seconds"),
        },
        "queue_position": queue_position(storage, job),
        "error": job.error if job.status is JobStatus.FAILED else "",
        "model_version": job.model_version,
        "next_url": next_url,
    }


@bp.route("/projects/<project_id>/jobs/<job_id>.json")
@login_required
def job_json(project_id: str, job_id: str):
    project = get_project_or_404(project_id)
    return jsonify(_job_payload(project, _job_of_project_or_404(project, job_id)))


@bp.route("/projects/<project_id>/jobs/<job_id>")
@login_required
def job_page(project_id: str, job_id: str):
    project = get_project_or_404(project_id)
    job = _job_of_project_or_404(project, job_id)
    return render_template("projects/job.html", project=project, job=_job_payload(project, job),
                           cancel_form=CancelForm())


@bp.route("/projects/<project_id>/jobs/<job_id>/cancel", methods=["POST"])
@login_required
def cancel_job(project_id: str, job_id: str):
    project = get_project_or_404(project_id)
    job = _job_of_project_or_404(project, job_id)
    if CancelForm().validate_on_submit():
        request_cancel(services().storage, job.job_id)
        flash("Cancel requested: a running job stops at its next progress update.")
    return redirect(url_for("projects.job_page", project_id=project.id, job_id=job.job_id))


# --- Project, details, retrain, promote ---------------------------------------------------------

def _manifest_or_none(project: Project, dataset_id: str) -> DatasetManifest | None:
    try:
        return load_manifest(services().storage, project.id, dataset_id)
    except NotFound:
        return None


@bp.route("/projects/<project_id>")
@login_required
def project_page(project_id: str):
    project = get_project_or_404(project_id)
    storage = services().storage
    jobs = list_project_jobs(storage, project.id)
    versions = list_versions(storage, project.id)
    manifest = _manifest_or_none(project, jobs[0].dataset_id) if jobs else None
    pending = list_pending(storage, project)
    return render_template(
        "projects/project.html", project=project, jobs=jobs, versions=versions,
        current=current_version(storage, project.id), counts=manifest.counts() if manifest else {},
        retrain_form=RetrainForm(), promote_form=PromoteForm(),
        pending=pending, pending_counts=pending_counts(pending, project),
        remove_form=RemovePendingForm(),
    )


@bp.route("/projects/<project_id>/details")
@login_required
def details(project_id: str):
    project = get_project_or_404(project_id)
    storage = services().storage
    versions = list_versions(storage, project.id)
    current = current_version(storage, project.id)
    wanted = request.args.get("version") or current or (versions[-1].version if versions else "")
    if not wanted:
        flash("This project has no trained model yet; its details appear when training succeeds.")
        return redirect(url_for("projects.project_page", project_id=project.id))
    try:
        meta = load_model_meta(storage, project.id, wanted)
    except NotFound:
        abort(404)
    metrics = meta.metrics or {}
    manifest = _manifest_or_none(project, meta.dataset_id)
    texts = {s.sha256: s.text for s in manifest.samples} if manifest and project.kind == "text" else {}
    return render_template(
        "projects/details.html", project=project, meta=meta, metrics=metrics, versions=versions,
        current=current, counts=manifest.counts() if manifest else {},
        heatmap=(confusion_heatmap(metrics["confusion"], meta.class_names)
                 if metrics.get("confusion") else None),
        curves=learning_curves(metrics.get("history", [])),
        misclassified=metrics.get("misclassified", []), texts=texts, promote_form=PromoteForm(),
    )


@bp.route("/projects/<project_id>/datasets/<dataset_id>/samples/<sha256>")
@login_required
def sample_image(project_id: str, dataset_id: str, sha256: str):
    project = get_project_or_404(project_id)
    manifest = _manifest_or_none(project, dataset_id) if dataset_id.isalnum() else None
    sample = next((s for s in manifest.samples if s.sha256 == sha256), None) if manifest else None
    if sample is None or project.kind != "image":
        abort(404)
    # Stored samples are shrunk to a few tens of kB (image_store_side), so one read is fine.
    data = services().storage.get(sample_key(project.id, dataset_id, sample))
    mimetype = mimetypes.guess_type(f"x.{sample.ext}")[0] or "application/octet-stream"
    # Samples are immutable (named by their hash): the browser may keep them, privately.
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "private, max-age=86400"})


@bp.route("/projects/<project_id>/retrain", methods=["POST"])
@login_required
def retrain(project_id: str):
    project = get_project_or_404(project_id)
    if not RetrainForm().validate_on_submit():
        abort(400)
    storage = services().storage
    jobs = list_project_jobs(storage, project.id)
    if not jobs:
        flash("This project has no data to retrain on yet.")
        return redirect(url_for("projects.project_page", project_id=project.id))
    waiting = retrain_upload_in_progress(storage, project.id)
    if waiting:
        flash("A retrain with the pending examples is already being prepared.")
        return redirect(url_for("projects.upload_page", upload_id=waiting))
    if list_pending(storage, project):
        upload_id = _retrain_with_pending(project, jobs[0].dataset_id, jobs[0].options)
        flash("Retraining with the pending examples: they join the earlier ones in a new dataset.")
        return redirect(url_for("projects.upload_page", upload_id=upload_id))
    job = submit_job(storage, project.id, dataset_id=jobs[0].dataset_id, kind=project.kind,
                     featurizer=project.featurizer, options=jobs[0].options)
    flash("Retraining: the current model keeps answering until the new one succeeds.")
    return redirect(url_for("projects.job_page", project_id=project.id, job_id=job.job_id))


def _retrain_with_pending(project: Project, base_dataset_id: str, options: dict) -> str:
    upload_id = new_id()
    # What the Train form shows again, with the problems, if preprocess rejects the upload.
    services().storage.put_json(_entries_key(upload_id), {
        "kind": project.kind, "project_name": project.name, "num_classes": len(project.class_names),
        "class_names": project.class_names, "pasted": {}, "augment": bool(options.get("augment")),
        "files": {}, "project": project.id,
    })
    start_pending_retrain(services().storage, services().invoker, project, upload_id, base_dataset_id,
                          options)
    return upload_id


@bp.route("/projects/<project_id>/pending", methods=["POST"])
@login_required
def add_feedback(project_id: str):
    project = get_project_or_404(project_id)
    form = FeedbackForm(project.class_names)
    if not form.validate_on_submit():
        flash(f"Choose one of the classes: {', '.join(project.class_names)}.")
        return redirect(url_for("projects.predict", project_id=project.id))
    image = None
    if project.kind == "image":
        try:
            image = base64.b64decode(form.image_b64.data or "", validate=True)
        except ValueError:
            image = b""  # refused by add_pending with the sentence for an unreadable image
    try:
        add_pending(services().storage, services().settings, project, form.class_index.data,
                    image=image, text=form.text.data)
    except BadRequest as error:
        flash(error.message)
        return redirect(url_for("projects.predict", project_id=project.id))
    flash(f"Added to '{project.class_names[form.class_index.data]}' as a pending example; "
          "retrain the project to learn from it.")
    return redirect(url_for("projects.predict", project_id=project.id))


@bp.route("/projects/<project_id>/pending/<int:class_index>/<sha256>")
@login_required
def pending_image(project_id: str, class_index: int, sha256: str):
    project = get_project_or_404(project_id)
    if project.kind != "image":
        abort(404)
    try:
        data = read_pending(services().storage, project, class_index, sha256)
    except NotFound:
        abort(404)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@bp.route("/projects/<project_id>/pending/<int:class_index>/<sha256>/remove", methods=["POST"])
@login_required
def remove_feedback(project_id: str, class_index: int, sha256: str):
    project = get_project_or_404(project_id)
    if not RemovePendingForm().validate_on_submit():
        abort(400)
    try:
        remove_pending(services().storage, project, class_index, sha256)
    except NotFound:
        abort(404)
    flash("The pending example was removed.")
    return redirect(url_for("projects.project_page", project_id=project.id))


@bp.route("/projects/<project_id>/promote", methods=["POST"])
@login_required
def promote(project_id: str):
    project = get_project_or_404(project_id)
    form = PromoteForm()
    if not form.validate_on_submit():
        abort(400)
    storage = services().storage
    try:
        promote_model(storage, project.id, form.version.data)
        model = load_model_meta(storage, project.id, form.version.data).featurizer.get("name", "")
    except NotFound:
        abort(404)
    if model and model != project.featurizer:
        # A retrain continues with the model that now serves (a compared one, once chosen).
        project.featurizer = model
        save_project(storage, project)
    flash(f"Version {form.version.data} now answers predictions.")
    return redirect(url_for("projects.details", project_id=project.id, version=form.version.data))


# --- Inference ------------------------------------------------------------------------------

@bp.route("/projects/<project_id>/predict", methods=["GET", "POST"])
@login_required
def predict(project_id: str):
    project = get_project_or_404(project_id)
    form = PredictForm()
    result, error, shown_image, raw = None, "", "", b""
    if form.validate_on_submit():
        if project.kind == "image":
            chosen = chosen_files(form.image)
            raw = chosen[0].read() if chosen else b""
            encoded = base64.b64encode(raw).decode() if chosen else ""
            inputs = [{"image_b64": encoded}] if chosen else []
            if chosen:
                # Shown back beside the answer; only image types, so it can only ever be an <img>.
                mimetype = chosen[0].mimetype if chosen[0].mimetype.startswith("image/") else "image/png"
                shown_image = f"data:{mimetype};base64,{encoded}"
            missing = "Choose an image, drop one here, or take a webcam snapshot."
        else:
            text = (form.text.data or "").strip()
            inputs = [{"text": text}] if text else []
            missing = "Type some text to classify."
        if not inputs:
            error = missing
        else:
            try:
                result = services().invoker.call(
                    "infer", {"project_id": project.id, "inputs": inputs, "top_k": 3}
                )
            except TeachboxError as failure:
                error = failure.message
    status = 400 if error else 200
    return render_template("projects/predict.html", project=project, form=form, result=result,
                           error=error, shown_image=shown_image if result else "",
                           current=current_version(services().storage, project.id),
                           feedback=_feedback_forms(project, result, raw, form.text.data)), status


def _feedback_forms(project: Project, result: dict | None, image: bytes, text: str | None) -> dict | None:
    """The "Right" and "Wrong? this is class X" forms for a prediction, carrying its input."""
    if not result:
        return None
    settings = services().settings
    form = FeedbackForm(project.class_names, formdata=None)
    if project.kind == "image":
        try:
            # Normalized now, so the page re-posts tens of kB rather than the original photo.
            form.image_b64.data = base64.b64encode(normalize_image(
                image, max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels,
                store_side=settings.image_store_side).data).decode()
        except ImageRejected:
            return None
    else:
        form.text.data = (text or "").strip()
    folded = [name.casefold() for name in project.class_names]
    label = result["predictions"][0]["label"].casefold()
    predicted = folded.index(label) if label in folded else None
    if predicted is not None:
        form.class_index.data = predicted
    return {"form": form, "predicted": predicted}


# The data in/out routes (zip import, downloads, project export/import) and Compare (two models
# on one dataset) live on this blueprint.
from webapp.projects import compare, transfer  # noqa: E402, F401
