"""Compare: one dataset trained with two models, their numbers side by side, promote either.

``POST /projects/<id>/compare`` queues the project's latest dataset with another model as a
comparison job (``promote: false``): the serving model stays until the person chooses.
``GET /projects/<id>/compare?a=v1&b=v2`` shows two versions' metrics, confusion matrices and
training times; each has its own "Make current" button (the existing promote route).
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for

from teachbox.bundles import ModelMeta, current_version, list_versions
from teachbox.featurizers.catalog import BUILTIN
from teachbox.jobs import list_project_jobs, submit_job
from webapp.auth.routes import login_required
from webapp.extensions import services
from webapp.projects.charts import confusion_heatmap
from webapp.projects.forms import CompareForm, PromoteForm
from webapp.projects.routes import bp, get_project_or_404

__all__ = ["compare_page", "start_comparison", "default_pair"]

_logger = logging.getLogger(__name__)


def default_pair(versions: list[ModelMeta], current: str | None) -> list[ModelMeta]:
    """The current version and the newest other one trained on the same dataset (a comparison),
    else the two newest versions."""
    by_name = {m.version: m for m in versions}
    base = by_name.get(current or "") or (versions[-1] if versions else None)
    if base is None:
        return []
    same_data = [m for m in versions if m.dataset_id == base.dataset_id and m.version != base.version]
    others = same_data or [m for m in versions if m.version != base.version]
    return [base, others[-1]] if others else [base]


def _column(meta: ModelMeta, current: str | None) -> dict:
    name = meta.featurizer.get("name", "")
    backbone = BUILTIN.get(name)
    metrics = meta.metrics or {}
    return {
        "meta": meta,
        "model": name,
        "label": backbone.label if backbone else "plugin",
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "timings": meta.timings or {},
        "current": meta.version == current,
        "heatmap": (confusion_heatmap(metrics["confusion"], meta.class_names)
                    if metrics.get("confusion") else None),
    }


@bp.route("/projects/<project_id>/compare")
@login_required
def compare_page(project_id: str):
    project = get_project_or_404(project_id)
    storage = services().storage
    versions = list_versions(storage, project.id)
    current = current_version(storage, project.id)
    by_name = {m.version: m for m in versions}
    wanted = [request.args.get(key, "") for key in ("a", "b")]
    if any(wanted):
        if not all(v in by_name for v in wanted if v):
            abort(404)
        chosen = [by_name[v] for v in wanted if v]
    else:
        chosen = default_pair(versions, current)
    return render_template(
        "projects/compare.html", project=project, columns=[_column(m, current) for m in chosen],
        versions=versions, form=CompareForm(project.kind), promote_form=PromoteForm(),
    )


@bp.route("/projects/<project_id>/compare", methods=["POST"])
@login_required
def start_comparison(project_id: str):
    project = get_project_or_404(project_id)
    form = CompareForm(project.kind)
    if not form.validate_on_submit():
        flash("Choose the model to compare with.")
        return redirect(url_for("projects.compare_page", project_id=project.id))
    storage = services().storage
    jobs = list_project_jobs(storage, project.id)
    if not jobs:
        flash("This project has no examples to compare models on yet; train it first.")
        return redirect(url_for("projects.project_page", project_id=project.id))
    options = {**jobs[0].options, "promote": False, "compare": True}
    job = submit_job(storage, project.id, dataset_id=jobs[0].dataset_id, kind=project.kind,
                     featurizer=form.model.data, options=options)
    _logger.info("project %s: comparison job %s with %s", project.id, job.job_id, form.model.data)
    flash(f"Training the same examples with {form.model.data}; the current model keeps answering. "
          "When it is done, compare the two and make either current.")
    return redirect(url_for("projects.job_page", project_id=project.id, job_id=job.job_id))
