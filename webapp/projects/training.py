"""Starting training, shared by the Train page and the REST API so both follow one contract:
stage the files, write the ``validating`` upload status, hand the upload to preprocess in the
background; or retrain on the project's latest dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from teachbox.feedback import list_pending, retrain_upload_in_progress, start_pending_retrain
from teachbox.invoker import Invoker
from teachbox.jobs import JobRecord, list_project_jobs, submit_job
from teachbox.projects import Project
from teachbox.storage import Storage, new_id
from teachbox.uploads import UploadState, UploadStatus, staging_prefix, write_upload_status

__all__ = ["ChosenFile", "RetrainStarted", "UploadRequest", "latest_dataset_id", "stage_upload",
           "retrain_latest"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChosenFile:
    """One file as it arrived: the class it belongs to (None for a labelled CSV), its name, bytes."""

    class_index: int | None
    filename: str
    stream: BinaryIO


@dataclass
class UploadRequest:
    """What a person asked to train on, before anything is stored."""

    owner: str
    project_id: str
    project_name: str
    kind: str
    class_names: list[str]
    files: Sequence[ChosenFile] = ()
    pasted: dict[str, str] = field(default_factory=dict)  # class index (as text) -> pasted lines
    labelled_csv: ChosenFile | None = None
    archive: ChosenFile | None = None  # a zip of class folders, expanded by preprocess
    featurizer: str = ""
    augment: bool = False
    base_dataset_id: str = ""


def latest_dataset_id(storage: Storage, project_id: str) -> str:
    """The dataset of the project's newest job: what a retrain or an added upload builds on."""
    jobs = list_project_jobs(storage, project_id)
    return jobs[0].dataset_id if jobs else ""


def stage_upload(storage: Storage, invoker: Invoker, request: UploadRequest, upload_id: str = "") -> str:
    """Stream every file to staging, record the upload as ``validating`` and start preprocess.

    Returns the upload id; preprocess ends its status as ``queued`` or ``rejected``.
    """
    upload_id = upload_id or new_id()
    prefix = staging_prefix(upload_id)
    files = []
    for n, chosen in enumerate(request.files):
        key = f"{prefix}c{chosen.class_index}/{n:04d}.bin"
        storage.put_stream(key, chosen.stream)
        files.append({"class_index": chosen.class_index, "key": key, "filename": chosen.filename})
    labelled = None
    if request.labelled_csv is not None:
        labelled = {"key": f"{prefix}labelled.bin", "filename": request.labelled_csv.filename}
        storage.put_stream(labelled["key"], request.labelled_csv.stream)
    archive = None
    if request.archive is not None:
        archive = {"key": f"{prefix}archive.zip", "filename": request.archive.filename}
        storage.put_stream(archive["key"], request.archive.stream)
    write_upload_status(storage, UploadStatus(
        upload_id=upload_id, project_id=request.project_id, owner=request.owner,
        state=UploadState.VALIDATING.value,
    ))
    invoker.start("preprocess", {
        "upload_id": upload_id,
        "project_id": request.project_id,
        "owner": request.owner,
        "project_name": request.project_name.strip(),
        "kind": request.kind,
        "class_names": list(request.class_names),
        "files": files,
        "pasted": dict(request.pasted),
        "labelled_csv": labelled,
        "archive": archive,
        "options": {"featurizer": request.featurizer, "augment": request.augment},
        "base_dataset_id": request.base_dataset_id,
    })
    _logger.info("upload %s: %d files staged for project %s", upload_id, len(files), request.project_id)
    return upload_id


@dataclass(frozen=True)
class RetrainStarted:
    """What a retrain began: a queued job, or (with pending examples) an upload to follow."""

    job: JobRecord | None = None
    upload_id: str = ""


def retrain_latest(storage: Storage, invoker: Invoker, project: Project) -> RetrainStarted | None:
    """Retrain on the latest dataset with the same options, taking in the pending examples
    (teachbox.feedback) through preprocess when there are any; None if there is no dataset yet.

    A retrain with pending examples already being validated is answered with that upload, so a
    second call does not stage the same examples twice.
    """
    jobs = list_project_jobs(storage, project.id)
    if not jobs:
        return None
    waiting = retrain_upload_in_progress(storage, project.id)
    if waiting:
        return RetrainStarted(upload_id=waiting)
    if list_pending(storage, project):
        upload_id = new_id()
        start_pending_retrain(storage, invoker, project, upload_id, jobs[0].dataset_id, jobs[0].options)
        return RetrainStarted(upload_id=upload_id)
    job = submit_job(storage, project.id, dataset_id=jobs[0].dataset_id, kind=project.kind,
                     featurizer=project.featurizer, options=jobs[0].options)
    return RetrainStarted(job=job)
