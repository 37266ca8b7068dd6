"""Data in and out: import a zip or a folder of class folders, download examples as a zip,
export a whole project and import one.

Routes on the projects blueprint (registered by importing this module from ``routes``);
the rules live in ``teachbox.archives`` and ``teachbox.project_export``.
"""

from __future__ import annotations

import logging
import re
import tempfile

from flask import abort, flash, g, jsonify, redirect, render_template, request, send_file, url_for

from teachbox.archives import dataset_entries, folder_name, plan_layout, write_zip
from teachbox.datasets import load_manifest
from teachbox.errors import BadRequest, NotFound, ValidationFailed
from teachbox.project_export import export_project as write_project_export
from teachbox.project_export import import_project
from teachbox.projects import Project
from teachbox.storage import new_id
from webapp.auth.routes import login_required
from webapp.errors.routes import wants_json
from webapp.extensions import services
from webapp.projects.forms import ArchiveForm, ProjectImportForm, chosen_files
from webapp.projects.routes import _entries_key, _kind_or_404, bp, get_project_or_404
from webapp.projects.training import ChosenFile, UploadRequest, latest_dataset_id, stage_upload

__all__ = ["import_examples", "download_dataset", "export_project", "import_project_page"]

_logger = logging.getLogger(__name__)

# The import form shares the Train page with the Train form: its fields are "import-<name>".
IMPORT_PREFIX = "import"
_SPOOL_BYTES = 32 * 1024 * 1024  # zips smaller than this are built in memory, larger on disk


def _zip_response(entries, download_name: str):
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    write_zip(spool, entries)
    spool.seek(0)
    return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=download_name)


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "project"


def _folder_files(form: ArchiveForm, kind: str, class_names: list[str]) -> list[ChosenFile]:
    """A dropped folder's files (named ``folder/class/file``) grouped the way a zip is; classes
    not in ``class_names`` are added to it.

    Raises:
        ValidationFailed: paths escaping the folder, nested archives, files outside a class.
    """
    uploads = {upload.filename: upload for upload in chosen_files(form.folder)}
    layout = plan_layout(uploads, kind)
    index_of = {name.casefold(): i for i, name in enumerate(class_names)}
    for name in layout.classes:
        if name.casefold() not in index_of:
            index_of[name.casefold()] = len(class_names)
            class_names.append(name)
    return [ChosenFile(index_of[f.class_name.casefold()], f.path, uploads[f.entry].stream)
            for f in layout.files]


@bp.context_processor
def _import_form() -> dict:
    """The Train page shows the import form beside its own (unbound: its fields stay empty)."""
    return {"import_form": ArchiveForm(formdata=None, prefix=IMPORT_PREFIX)}


@bp.route("/<kind>/import", methods=["GET", "POST"])
@login_required
def import_examples(kind: str):
    """Classes and examples in one step, from a zip or a dropped folder."""
    _kind_or_404(kind)
    form = ArchiveForm(prefix=IMPORT_PREFIX)
    existing: Project | None = get_project_or_404(form.project.data) if form.project.data else None
    if existing is not None and existing.kind != kind:
        abort(404)
    if form.validate_on_submit():
        storage = services().storage
        class_names = list(existing.class_names) if existing else []
        archive, files = None, []
        if chosen_files(form.archive):
            upload = chosen_files(form.archive)[0]
            archive = ChosenFile(None, upload.filename, upload.stream)
        else:
            try:
                files = _folder_files(form, kind, class_names)
            except ValidationFailed as error:
                form.folder.errors = [p.sentence() for p in error.problems]
                return _render_import(form, kind, existing), 400
        upload_id = new_id()
        storage.put_json(_entries_key(upload_id), {
            "kind": kind, "project_name": form.project_name.data, "num_classes": len(class_names),
            "class_names": class_names, "pasted": {}, "augment": False, "files": {},
            "project": existing.id if existing else "",
        })
        stage_upload(storage, services().invoker, UploadRequest(
            owner=g.user.username, project_id=existing.id if existing else new_id(),
            project_name=form.project_name.data, kind=kind, class_names=class_names, files=files,
            archive=archive, featurizer=existing.featurizer if existing else "",
            base_dataset_id=latest_dataset_id(storage, existing.id) if existing else "",
        ), upload_id=upload_id)
        target = url_for("projects.upload_page", upload_id=upload_id)
        if wants_json():
            return jsonify({"upload_id": upload_id, "page_url": target,
                            "status_url": url_for("projects.upload_json", upload_id=upload_id)}), 202
        return redirect(target)
    if request.method == "POST" and wants_json():
        errors = {name: list(field.errors) for name, field in form._fields.items() if field.errors}
        return jsonify({"error": "validation_failed",
                        "message": "Some fields need attention; see the messages next to them.",
                        "fields": errors}), 400
    return _render_import(form, kind, existing), 400 if request.method == "POST" else 200


def _render_import(form: ArchiveForm, kind: str, existing: Project | None) -> str:
    return render_template("projects/import_examples.html", import_form=form, kind=kind, existing=existing)


@bp.route("/projects/<project_id>/datasets/<dataset_id>/download.zip")
@login_required
def download_dataset(project_id: str, dataset_id: str):
    """The examples of one dataset (``?class=<index>``: of one class) in the import layout."""
    project = get_project_or_404(project_id)
    if not dataset_id.isalnum():
        abort(404)
    try:
        manifest = load_manifest(services().storage, project.id, dataset_id)
    except NotFound:
        abort(404)
    class_index = request.args.get("class", type=int)
    if class_index is not None and not 0 <= class_index < len(manifest.class_names):
        abort(404)
    name = _safe_file_name(project.name) + (
        f"-{folder_name(manifest.class_names[class_index])}" if class_index is not None else "")
    return _zip_response(dataset_entries(services().storage, manifest, class_index), f"{name}.zip")


@bp.route("/projects/<project_id>/export.zip")
@login_required
def export_project(project_id: str):
    project = get_project_or_404(project_id)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    write_project_export(services().storage, project.id, spool)
    spool.seek(0)
    return send_file(spool, mimetype="application/zip", as_attachment=True,
                     download_name=f"{_safe_file_name(project.name)}-teachbox-project.zip")


@bp.route("/projects/import", methods=["GET", "POST"])
@login_required
def import_project_page():
    form = ProjectImportForm()
    if form.validate_on_submit():
        try:
            project = import_project(services().storage, chosen_files(form.archive)[0].stream,
                                     owner=g.user.username)
        except ValidationFailed as error:
            form.archive.errors = [p.sentence() for p in error.problems]
        except BadRequest as error:
            form.archive.errors = [error.message]
        else:
            flash(f"Imported '{project.name}' with its examples and model versions.")
            return redirect(url_for("projects.project_page", project_id=project.id))
    status = 400 if form.errors else 200
    return render_template("projects/import_project.html", form=form), status

