"""A whole project exported to one zip and imported on another Teachbox (folder -> S3)."""

from __future__ import annotations

import io
import json
import random
import zipfile

import numpy as np
import pytest

from lambda_preprocess import preprocess
from teachbox.bundles import current_version, list_versions
from teachbox.datasets import load_manifest
from teachbox.errors import BadRequest, ValidationFailed
from teachbox.jobs import get_job, list_project_jobs
from teachbox.project_export import EXPORT_FORMAT_VERSION, export_project, import_project
from teachbox.projects import list_projects, load_project
from teachbox.serving import load_model
from teachbox.storage import new_id
from teachbox.uploads import staging_prefix
from tests.archives.conftest import make_zip, stored_objects
from tests.trainer.conftest import draw_shape


@pytest.fixture
def trained(storage, settings, worker):
    """An image project trained by the real trainer: (project id, fresh drawings to predict)."""
    rng = random.Random(7)
    upload_id, files = new_id(), []
    for c, shape in enumerate(("circle", "square")):
        for n in range(10):
            key = f"{staging_prefix(upload_id)}f{c}{n:03d}.bin"
            storage.put(key, draw_shape(shape, rng))
            files.append({"class_index": c, "filename": f"{shape}{n}.png", "key": key})
    queued = preprocess({"upload_id": upload_id, "project_id": new_id(), "owner": "alice",
                         "project_name": "Shapes", "kind": "image", "class_names": ["circle", "square"],
                         "files": files, "options": {}}, storage, settings)
    worker.work(burst=True)
    assert get_job(storage, queued["job_id"]).state == "succeeded"
    return queued["project_id"], [draw_shape(s, rng) for s in ("circle", "square") * 3]


def _exported(storage, project_id: str) -> bytes:
    out = io.BytesIO()
    export_project(storage, project_id, out)
    return out.getvalue()


@pytest.mark.slow
def test_an_imported_project_on_s3_predicts_exactly_as_the_exported_one(
        storage, s3_storage, settings, trained):
    project_id, drawings = trained

    imported = import_project(s3_storage, io.BytesIO(_exported(storage, project_id)), owner="bob")

    original = load_project(storage, project_id)
    assert imported.id != project_id and imported.owner == "bob"
    assert (imported.name, imported.kind, imported.class_names) == (
        original.name, original.kind, original.class_names)
    assert [p.id for p in list_projects(s3_storage, owner="bob")] == [imported.id]
    version = current_version(storage, project_id)
    assert current_version(s3_storage, imported.id) == version
    before = load_model(storage, project_id, version, settings.cache_dir).predict_proba(drawings)
    after = load_model(s3_storage, imported.id, version, settings.cache_dir).predict_proba(drawings)
    np.testing.assert_array_equal(after, before)
    [meta] = list_versions(s3_storage, imported.id)
    assert meta.metrics == list_versions(storage, project_id)[0].metrics
    assert [(j.state, j.dataset_id, j.model_version) for j in list_project_jobs(s3_storage, imported.id)] == [
        (j.state, j.dataset_id, j.model_version) for j in list_project_jobs(storage, project_id)]
    dataset = load_manifest(s3_storage, imported.id, meta.dataset_id)
    assert sorted(s.sha256 for s in dataset.samples) == sorted(
        s.sha256 for s in load_manifest(storage, project_id, meta.dataset_id).samples)


def _rewritten(data: bytes, name: str, change) -> bytes:
    """The archive with entry ``name`` replaced by ``change(its bytes)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info, change(body) if info.filename == name else body)
    return out.getvalue()


@pytest.mark.slow
def test_an_archive_from_a_newer_format_is_refused_and_nothing_is_stored(storage, s3_storage, trained):
    project_id, _ = trained
    newer = _rewritten(_exported(storage, project_id), "project.json", lambda body: json.dumps(
        {**json.loads(body), "format_version": EXPORT_FORMAT_VERSION + 1}).encode())

    with pytest.raises(BadRequest, match=r"This project was exported by a newer Teachbox "
                       r"\(export format 2\); this one reads format 1. Upgrade Teachbox to import it."):
        import_project(s3_storage, io.BytesIO(newer), owner="bob")
    assert stored_objects(s3_storage) == {}


@pytest.mark.slow
def test_a_tampered_sample_is_refused_by_name_and_nothing_is_stored(storage, s3_storage, trained):
    project_id, _ = trained
    data = _exported(storage, project_id)
    sample = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "/samples/" in n)

    with pytest.raises(ValidationFailed, match=f"{sample}: the sample's content does not match its hash"):
        tampered = _rewritten(data, sample, lambda body: body + b"x")
        import_project(s3_storage, io.BytesIO(tampered), owner="bob")
    assert stored_objects(s3_storage) == {}


def test_a_zip_that_is_not_an_export_is_refused(storage):
    with pytest.raises(BadRequest, match="This is not a Teachbox project export: it has no project.json"):
        import_project(storage, io.BytesIO(make_zip({"cat/a.jpg": b"x"})), owner="bob")
    assert stored_objects(storage) == {}
