"""A whole project as one zip, and back: to keep it, share it, or move it to another Teachbox.

The archive holds ``project.json`` (the project, its promoted version and ``format_version``),
every complete dataset snapshot (``datasets/<id>/manifest.json`` and its samples) and every
complete model version (``models/<version>/model.json`` with its metrics, and its files),
byte for byte: an imported model answers exactly as the exported one did.

Import checks the whole archive first (format version, every record, every sample's hash,
every file a model lists) and writes nothing unless all of it is sound; then it writes the
datasets and models of a new project id owned by the importing person, and the project
record last, so a half-imported project is never visible.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import BinaryIO

from teachbox import projects
from teachbox.archives import ArchiveLimits, SafeZip, write_zip
from teachbox.bundles import MODEL_FORMAT_VERSION, bundle_key, current_version, list_versions
from teachbox.datasets import (
    MANIFEST_FORMAT,
    DatasetManifest,
    dataset_prefix,
    manifest_key,
    sha256_hex,
)
from teachbox.errors import BadRequest, Problem, ValidationFailed
from teachbox.jobs import JobRecord, list_project_jobs, record_finished_job
from teachbox.records import from_dict, now
from teachbox.storage import InvalidKey, Storage, new_id, validate_key

__all__ = ["EXPORT_FORMAT_VERSION", "IMPORT_LIMITS", "export_project", "import_project"]

_logger = logging.getLogger(__name__)

EXPORT_FORMAT_VERSION = 1
# Model files (weights, ONNX exports) are tens of MB; samples are small.
IMPORT_LIMITS = ArchiveLimits(max_entries=200_000, max_total_bytes=8 * 1024**3,
                              max_entry_bytes=1024**3)
_FIELD = "archive"
_ID = re.compile(r"[0-9a-f]{16}")
_VERSION = re.compile(r"v\d+")


def _dataset_ids(storage: Storage, project_id: str) -> list[str]:
    """Complete snapshots only: the manifest is written last."""
    prefix = f"projects/{project_id}/datasets/"
    return sorted({key[len(prefix):].split("/")[0] for key in storage.list(prefix)
                   if key.endswith("/manifest.json") and key.count("/") == 4})


def _entries(storage: Storage, project: projects.Project) -> Iterator[tuple[str, Callable[[], bytes]]]:
    def reader(key: str) -> Callable[[], bytes]:
        return lambda: storage.get(key)

    datasets = _dataset_ids(storage, project.id)
    versions = list_versions(storage, project.id)
    # Finished jobs of exported datasets: the project's history, and what "add examples" builds on.
    jobs = [job for job in list_project_jobs(storage, project.id)
            if job.status.is_terminal and job.dataset_id in datasets]
    record = {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported": now(),
        "project": asdict(project),
        "current_version": current_version(storage, project.id) or "",
        "datasets": datasets,
        "versions": [meta.version for meta in versions],
        "jobs": [job.to_dict() for job in reversed(jobs)],
    }
    yield "project.json", lambda: _json_bytes(record)
    for dataset_id in datasets:
        prefix = dataset_prefix(project.id, dataset_id)
        for key in storage.list(prefix):
            if not key.endswith("/manifest.json") or key.count("/") != 4:
                yield f"datasets/{dataset_id}/{key[len(prefix):]}", reader(key)
        yield f"datasets/{dataset_id}/manifest.json", reader(manifest_key(project.id, dataset_id))
    for meta in versions:
        prefix = bundle_key(project.id, meta.version, "")
        for key in storage.list(prefix):
            yield f"models/{meta.version}/{key[len(prefix):]}", reader(key)


def _json_bytes(record: dict) -> bytes:
    return json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")


def export_project(storage: Storage, project_id: str, out: BinaryIO) -> None:
    """Write project ``project_id`` as one zip to ``out``.

    Raises:
        NotFound: no such project.
    """
    project = projects.load_project(storage, project_id)
    write_zip(out, _entries(storage, project))
    _logger.info("exported project %s", project_id)


# ---- import -------------------------------------------------------------------------------------


def _problem(item: str, reason: str, fix: str = "Export the project again.") -> Problem:
    return Problem(field=_FIELD, item=item, reason=reason, fix=fix)


def _read_json(archive: SafeZip, name: str) -> dict:
    try:
        value = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed([_problem(name, "the file is not valid JSON")]) from None
    if not isinstance(value, dict):
        raise ValidationFailed([_problem(name, "the file does not hold a record")])
    return value


def _read_record(archive: SafeZip) -> dict:
    if "project.json" not in archive.names:
        raise BadRequest("This is not a Teachbox project export: it has no project.json. "
                         "Choose a file made by 'Export project'.")
    record = _read_json(archive, "project.json")
    version = record.get("format_version")
    if not isinstance(version, int):
        raise BadRequest("This is not a Teachbox project export: project.json has no format version.")
    if version > EXPORT_FORMAT_VERSION:
        raise BadRequest(
            f"This project was exported by a newer Teachbox (export format {version}); this one reads "
            f"format {EXPORT_FORMAT_VERSION}. Upgrade Teachbox to import it.")
    return record


def _check(archive: SafeZip, record: dict) -> tuple[projects.Project, list[DatasetManifest], list[dict]]:
    """Every problem of the archive, or the project, manifests and model records it holds."""
    problems: list[Problem] = []
    data = record.get("project") or {}
    try:
        project = projects.Project(**{k: data[k] for k in ("id", "owner", "name", "kind", "class_names",
                                                         "created")},
                                   featurizer=str(data.get("featurizer", "")),
                                   description=str(data.get("description", "")))
        projects.validate_project_name(project.name)
        projects.validate_class_names(project.class_names)
        if project.kind not in projects.KINDS:
            raise BadRequest(f"unknown project kind {project.kind!r}")
    except (KeyError, TypeError) as error:
        raise ValidationFailed([_problem("project.json", f"the project record is incomplete ({error})")]
                               ) from None
    except BadRequest as error:
        raise ValidationFailed([_problem("project.json", error.message)]) from None
    names = set(archive.names)
    for name in names:
        try:
            validate_key(name)
        except InvalidKey:
            problems.append(_problem(name, "the entry has a name Teachbox does not store"))
    manifests = []
    for dataset_id in record.get("datasets", []):
        name = f"datasets/{dataset_id}/manifest.json"
        if name not in names:
            problems.append(_problem(name, "the dataset's manifest is missing"))
            continue
        manifest = DatasetManifest.from_dict(_read_json(archive, name))
        if manifest.dataset_id != dataset_id or not _ID.fullmatch(dataset_id):
            problems.append(_problem(name, "the manifest does not belong to its folder"))
            continue
        if manifest.format_version > MANIFEST_FORMAT:
            problems.append(_problem(name, f"the dataset was written by a newer Teachbox (format "
                                     f"{manifest.format_version})", "Upgrade Teachbox to import it."))
        manifests.append(manifest)
        if manifest.kind != "image":
            continue
        for sample in manifest.samples:
            sample_name = f"datasets/{dataset_id}/samples/{sample.class_index}/{sample.sha256}.{sample.ext}"
            if sample_name not in names:
                problems.append(_problem(sample_name, "the sample is missing"))
            elif sha256_hex(archive.read(sample_name)) != sample.sha256:
                problems.append(_problem(sample_name, "the sample's content does not match its hash"))
    metas = []
    for version in record.get("versions", []):
        name = f"models/{version}/model.json"
        if name not in names:
            problems.append(_problem(name, "the model's model.json is missing"))
            continue
        meta = _read_json(archive, name)
        if meta.get("version") != version or not _VERSION.fullmatch(version):
            problems.append(_problem(name, "the model does not belong to its folder"))
            continue
        if int(meta.get("format_version", 0)) > MODEL_FORMAT_VERSION:
            problems.append(_problem(name, f"the model was written by a newer Teachbox (format "
                                     f"{meta['format_version']})", "Upgrade Teachbox to import it."))
        for file_name in meta.get("files", []):
            if f"models/{version}/{file_name}" not in names:
                problems.append(_problem(f"models/{version}/{file_name}", "the model file is missing"))
        metas.append(meta)
    for number, job in enumerate(record.get("jobs", []), start=1):
        try:
            finished = from_dict(JobRecord, job)
            known = finished.status.is_terminal and finished.dataset_id in record.get("datasets", [])
        except (TypeError, ValueError, AttributeError):
            known = False
        if not known:
            problems.append(_problem("project.json", f"training job {number} is incomplete or names a "
                                     "dataset that is not in the archive"))
    if record.get("current_version") and record["current_version"] not in record.get("versions", []):
        problems.append(_problem("project.json", f"the promoted version {record['current_version']!r} "
                                 "is not in the archive"))
    if problems:
        raise ValidationFailed(problems)
    return project, manifests, metas


def _write(archive: SafeZip, storage: Storage, record: dict, project: projects.Project,
           manifests: list[DatasetManifest], metas: list[dict], new_project_id: str,
           job_ids: list[str]) -> None:
    """Samples and model files first, then each manifest and model.json, the finished jobs
    (their new ids appended to ``job_ids``), then the project."""
    datasets, versions = set(record.get("datasets", [])), set(record.get("versions", []))
    for name in archive.names:
        parts = name.split("/")
        if len(parts) < 3:
            continue  # project.json, read already
        if parts[0] == "datasets" and parts[1] in datasets and parts[2:3] == ["samples"]:
            storage.put(dataset_prefix(new_project_id, parts[1]) + "/".join(parts[2:]), archive.read(name))
        elif parts[0] == "models" and parts[1] in versions and parts[2:] != ["model.json"]:
            storage.put(bundle_key(new_project_id, parts[1], "/".join(parts[2:])), archive.read(name))
    for manifest in manifests:
        manifest.project_id = new_project_id
        storage.put_json(manifest_key(new_project_id, manifest.dataset_id), manifest.to_dict())
    for meta in metas:
        meta["project_id"] = new_project_id
        storage.put_json(bundle_key(new_project_id, meta["version"], "model.json"), meta)
        storage.create_json_if_absent(f"projects/{new_project_id}/versions/{meta['version']}.json",
                                      {"job_id": meta.get("job_id", ""),
                                       "created": meta.get("created", now())})
    for job in record.get("jobs", []):
        written = record_finished_job(storage, from_dict(JobRecord, {**job, "project_id": new_project_id}))
        job_ids.append(written.job_id)
    if record.get("current_version"):
        storage.put_json(f"projects/{new_project_id}/current.json",
                         {"version": record["current_version"], "promoted": now()})
    created = projects.create_project(storage, project.owner, project.name, project.kind, project.class_names,
                                      featurizer=project.featurizer, project_id=new_project_id)
    if project.description:
        created.description = project.description
        projects.save_project(storage, created)


def import_project(storage: Storage, file: BinaryIO, owner: str) -> projects.Project:
    """Import an exported project as a new project of ``owner``; returns it.

    ``file`` must be seekable (it is read twice: checked whole, then written).

    Raises:
        BadRequest: not an export, or one from a newer Teachbox (the message says which).
        ValidationFailed: every problem found in the archive; nothing was written.
    """
    with SafeZip(file, IMPORT_LIMITS) as archive:
        record = _read_record(archive)
        project, manifests, metas = _check(archive, record)
    project.owner = owner
    new_project_id = new_id()
    file.seek(0)
    job_ids: list[str] = []
    try:
        with SafeZip(file, IMPORT_LIMITS) as archive:
            _write(archive, storage, record, project, manifests, metas, new_project_id, job_ids)
    except BaseException:
        # No half project: everything under its new id goes, its job records and owner entry too.
        storage.delete_prefix(f"projects/{new_project_id}/")
        for job_id in job_ids:
            storage.delete(f"jobs/status/{job_id}.json")
        storage.delete(f"owners/{owner}/{new_project_id}")
        raise
    _logger.info("imported project %s as %s for %s", project.id, new_project_id, owner)
    return projects.load_project(storage, new_project_id)
