"""Preprocess one upload: validate everything, normalize, split, snapshot, enqueue training.

``preprocess`` is the core: it reads the staged files, collects every problem in one pass and
raises ``ValidationFailed`` before writing anything, or writes the dataset (samples first,
manifest last), the project and the queued job. ``handle`` is what the invoker calls in the
background: it turns the outcome into the upload status the Train page polls and always
removes the staging files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from teachbox import projects
from teachbox.archives import archive_limits, open_class_files, scan_zip
from teachbox.datasets import (
    DatasetManifest,
    Sample,
    dataset_prefix,
    load_manifest,
    sample_key,
    sha256_hex,
    stratified_split,
    write_manifest,
)
from teachbox.errors import BadRequest, NotFound, Problem, TeachboxError, ValidationFailed, error_to_payload
from teachbox.featurizers.catalog import check_featurizer_name
from teachbox.ingest.images import ImageRejected, NormalizedImage, normalize_image
from teachbox.ingest.text import (
    TextFileRejected,
    TextRow,
    decode_text_file,
    read_labelled_csv,
    read_pasted_lines,
    read_text_column,
)
from teachbox.jobs import submit_job
from teachbox.settings import Settings
from teachbox.storage import ObjectNotFound, Storage, new_id, validate_key
from teachbox.uploads import UploadState, UploadStatus, get_upload_status, staging_prefix, write_upload_status

__all__ = [
    "DEFAULT_FEATURIZERS",
    "DEFAULT_WORKERS",
    "PreprocessRequest",
    "StagedFile",
    "handle",
    "image_val_fraction",
    "preprocess",
]

_logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

DEFAULT_FEATURIZERS = {"image": "lite0", "text": "minilm"}
_ID = re.compile(r"[0-9a-f]{16}")
# Decoding releases the GIL and S3 reads wait on the network, so a few threads per core pay.
DEFAULT_WORKERS = max(4, 2 * (os.cpu_count() or 1))
_PROGRESS_EVERY = 50
_MAX_PROBLEMS_PER_FIELD = 20
_MAX_ROWS_LISTED = 10
_FAILED = "Preparing the examples failed on our side; nothing was saved. Please upload again."


@dataclass(frozen=True)
class StagedFile:
    key: str
    filename: str
    class_index: int | None = None


@dataclass(frozen=True)
class PreprocessRequest:
    """The payload the web app sends (see the module docstring of ``lambda_preprocess``)."""

    upload_id: str
    project_id: str
    owner: str
    project_name: str
    kind: str
    class_names: list[str]
    files: list[StagedFile] = field(default_factory=list)
    pasted: dict[int, str] = field(default_factory=dict)
    labelled_csv: StagedFile | None = None
    archive: StagedFile | None = None  # a zip of one folder (text: or CSV) per class
    featurizer: str = ""
    augment: bool = False
    base_dataset_id: str = ""

    @classmethod
    def from_payload(cls, payload: dict) -> PreprocessRequest:
        """Raises BadRequest when the payload itself is malformed (a web app bug, not user input)."""
        try:
            upload_id = str(payload["upload_id"])
            project_id = str(payload["project_id"])
            kind = str(payload["kind"])
            # Trimmed as the project stores them, so the manifest and project agree.
            class_names = [str(name).strip() for name in payload["class_names"]]
            staging = staging_prefix(upload_id)

            def staged(item: dict) -> StagedFile:
                key = validate_key(str(item["key"]))
                if not key.startswith(staging):
                    raise BadRequest(f"File {item.get('filename', key)!r} is not part of this upload.")
                index = item.get("class_index")
                if index is not None and not 0 <= int(index) < len(class_names):
                    raise BadRequest(f"File {item.get('filename', key)!r} names a class that does not exist.")
                return StagedFile(key, str(item.get("filename") or key.rsplit("/", 1)[-1]),
                                  None if index is None else int(index))

            files = [staged(item) for item in payload.get("files") or []]
            labelled = payload.get("labelled_csv")
            labelled_csv = staged({**labelled, "class_index": None}) if labelled else None
            archive = payload.get("archive")
            archive_file = staged({**archive, "class_index": None}) if archive else None
            options = payload.get("options") or {}
            if not isinstance(options, dict):
                raise TypeError(f"options must be an object, not {type(options).__name__}")
            pasted = {int(index): str(text) for index, text in (payload.get("pasted") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BadRequest(f"The upload request is incomplete or malformed ({error}).") from None
        base_dataset_id = str(payload.get("base_dataset_id") or "")
        if not (_ID.fullmatch(upload_id) and _ID.fullmatch(project_id)
                and (not base_dataset_id or _ID.fullmatch(base_dataset_id))):
            raise BadRequest("The upload request has an invalid upload, project or dataset id.")
        if not payload.get("owner"):
            raise BadRequest("The upload request does not say whose it is.")
        if kind not in projects.KINDS:
            raise BadRequest(f"Unknown project kind {kind!r}; use one of: {', '.join(projects.KINDS)}.")
        if any(not 0 <= index < len(class_names) for index in pasted):
            raise BadRequest("Pasted text names a class that does not exist.")
        if any(f.class_index is None for f in files):
            raise BadRequest("Every uploaded file must belong to a class (a labelled CSV is sent apart).")
        try:  # the light catalog: validating a name must not load onnxruntime here
            featurizer = check_featurizer_name(str(options.get("featurizer") or ""), kind)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        return cls(
            upload_id=upload_id, project_id=project_id, owner=str(payload["owner"]),
            project_name=str(payload.get("project_name", "")), kind=kind, class_names=class_names,
            files=files, pasted=pasted,
            labelled_csv=labelled_csv, archive=archive_file,
            featurizer=featurizer,
            augment=bool(options.get("augment", False)),
            base_dataset_id=base_dataset_id,
        )


@dataclass
class _Candidate:
    """A validated sample waiting to be written."""

    class_index: int
    sha256: str
    source: str
    field: str  # the form field problems about it belong to
    size: int
    ext: str = ""
    data: bytes | None = None  # normalized image bytes
    text: str = ""
    copy_from: str = ""  # storage key of a base-dataset image to copy


@dataclass
class _Findings:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _rows_listed(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_LISTED])
    more = len(rows) - _MAX_ROWS_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _read_staged(storage: Storage, staged: StagedFile, limit: int) -> tuple[bytes, int]:
    """The file's bytes, or its first ``limit + 1`` bytes and its full size when it is larger:
    enough to refuse it without reading it all."""
    with storage.open(staged.key) as stream:
        data = stream.read(limit + 1)
    return data, (storage.size(staged.key) if len(data) > limit else len(data))


def _missing(field_name: str, class_name: str, staged: StagedFile) -> Problem:
    return Problem(field=field_name, class_name=class_name, item=staged.filename,
                   reason="the file did not arrive", fix="Upload it again.")


# ---- checks on the request as a whole -------------------------------------------------------


def _check_project(request: PreprocessRequest, storage: Storage, settings: Settings,
                   findings: _Findings) -> projects.Project | None:
    """The existing project, if any, after checking the name, classes and ownership."""
    try:
        projects.validate_project_name(request.project_name)
    except BadRequest as error:
        findings.problems.append(Problem(field="project_name", reason=error.message))
    try:
        projects.validate_class_names(request.class_names)
    except BadRequest as error:
        findings.problems.append(Problem(field="class_names", reason=error.message))
    low, high = ((settings.image_min_classes, settings.image_max_classes) if request.kind == "image"
                 else (settings.text_min_classes, settings.text_max_classes))
    count = len(request.class_names)
    if not low <= count <= high:
        findings.problems.append(Problem(
            field="classes",
            reason=f"{'An' if request.kind == 'image' else 'A'} {request.kind} project needs {low} to "
            f"{high} classes; this one has {count}",
            fix=f"Remove {_plural(count - high, 'class')}." if count > high
            else f"Add {_plural(low - count, 'class')}.",
        ))
    try:
        project = projects.load_project(storage, request.project_id)
    except NotFound:
        return None
    if project.owner != request.owner:
        # Said the same way as a missing project: ids are not a way to learn about others' work.
        findings.problems.append(Problem(
            field="project_name", reason="This project does not exist or is not yours",
            fix="Open one of your projects and upload again."))
    elif project.kind != request.kind:
        findings.problems.append(Problem(
            field="classes", reason=f"This is {'an' if project.kind == 'image' else 'a'} "
            f"{project.kind} project; it cannot take {request.kind} examples",
            fix=f"Create a new {request.kind} project."))
    return project


def _base_candidates(request: PreprocessRequest, storage: Storage, existing: projects.Project | None,
                     findings: _Findings) -> list[_Candidate]:
    """Samples of the dataset a retrain builds on, mapped to the new class list by name."""
    if not request.base_dataset_id or (existing is not None and existing.owner != request.owner):
        return []  # nothing to merge, or not theirs to read (already a problem)
    try:
        base = load_manifest(storage, request.project_id, request.base_dataset_id)
    except NotFound:
        findings.problems.append(Problem(
            field="classes", reason="The dataset this retrain builds on no longer exists",
            fix="Upload all the examples again."))
        return []
    index_of = {name.casefold(): i for i, name in enumerate(request.class_names)}
    candidates = []
    for sample in base.samples:
        name = base.class_names[sample.class_index]
        new_index = index_of.get(name.casefold())
        if new_index is None:
            continue
        candidates.append(_Candidate(
            class_index=new_index, sha256=sample.sha256, source=sample.source,
            field=f"class_{new_index}_files", size=sample.size, ext=sample.ext, text=sample.text,
            copy_from=sample_key(base.project_id, base.dataset_id, sample) if request.kind == "image" else "",
        ))
    dropped = sorted({name for name in base.class_names if name.casefold() not in index_of})
    for name in dropped:
        findings.notes.append(f"Class {name!r} was removed: its earlier examples are not in this dataset.")
    return candidates


# ---- an archive of class folders ---------------------------------------------------------------


def _expand_archive(request: PreprocessRequest, archive: StagedFile, storage: Storage,
                    settings: Settings, workers: int) -> tuple[PreprocessRequest, list[str]]:
    """The request with the archive's files staged one per class, as if chosen one by one.

    The whole archive is checked (``scan_zip``) before a single file is staged; its classes
    are the request's classes followed by the archive's others, matched by name.
    """
    limits = archive_limits(settings, request.kind)
    with tempfile.TemporaryFile() as local:
        # zipfile needs to seek, and an S3 body cannot: keep a local copy while reading.
        try:
            with storage.open(archive.key) as stream:
                shutil.copyfileobj(stream, local, 1024 * 1024)
        except ObjectNotFound:
            raise ValidationFailed([Problem(field="archive", item=archive.filename,
                                            reason="the file did not arrive", fix="Upload it again.")]
                                   ) from None
        local.seek(0)
        layout = scan_zip(local, request.kind, limits)
        names = list(request.class_names)
        index_of = {name.casefold(): i for i, name in enumerate(names)}
        for name in layout.classes:
            if name.casefold() not in index_of:
                index_of[name.casefold()] = len(names)
                names.append(name)
        files = list(request.files)
        prefix = staging_prefix(request.upload_id)
        local.seek(0)
        # Puts wait on fsync or the network, so a few go at once (bench_archives.py, 1000 photos:
        # 45 s one by one, 37 s so, vs 36 s for the same files uploaded one by one); each entry is
        # already bounded by the scan's limits.
        with ThreadPoolExecutor(workers, thread_name_prefix="preprocess-unzip") as pool:
            pending = []
            for number, (class_file, stream) in enumerate(open_class_files(local, layout, limits)):
                key = f"{prefix}archive/{number:05d}.bin"
                pending.append(pool.submit(storage.put, key, stream.read()))
                files.append(StagedFile(key, class_file.path, index_of[class_file.class_name.casefold()]))
                if len(pending) >= 2 * workers:
                    pending.pop(0).result()
            for future in pending:
                future.result()
    _logger.info("upload %s: archive %s gave %d files in %d classes", request.upload_id,
                 archive.filename, len(layout.files), len(layout.classes))
    return dataclasses.replace(request, class_names=names, files=files, archive=None), layout.notes()


# ---- images ----------------------------------------------------------------------------------


def _normalize_staged(storage: Storage, settings: Settings, staged: StagedFile
                      ) -> NormalizedImage | ImageRejected | ObjectNotFound:
    try:
        data, size = _read_staged(storage, staged, settings.image_max_bytes)
        return normalize_image(data, max_bytes=settings.image_max_bytes, full_size=size,
                               max_pixels=settings.image_max_pixels, store_side=settings.image_store_side)
    except (ImageRejected, ObjectNotFound) as error:
        return error


def _image_candidates(request: PreprocessRequest, storage: Storage, settings: Settings,
                      findings: _Findings, progress: Progress, workers: int) -> list[_Candidate]:
    candidates = []
    total = len(request.files)
    with ThreadPoolExecutor(workers, thread_name_prefix="preprocess") as pool:
        results = pool.map(lambda staged: _normalize_staged(storage, settings, staged), request.files)
        for done, (staged, result) in enumerate(zip(request.files, results, strict=True), start=1):
            index = staged.class_index or 0  # never None: checked by from_payload
            field_name, class_name = f"class_{index}_files", request.class_names[index]
            if isinstance(result, ObjectNotFound):
                findings.problems.append(_missing(field_name, class_name, staged))
            elif isinstance(result, ImageRejected):
                findings.problems.append(Problem(field=field_name, class_name=class_name,
                                                 item=staged.filename, reason=result.reason, fix=result.fix))
            else:
                candidates.append(_Candidate(
                    class_index=index, sha256=result.sha256, source=staged.filename, field=field_name,
                    size=len(result.data), ext=result.ext, data=result.data))
            if done % _PROGRESS_EVERY == 0 or done == total:
                progress(done, total)
    return candidates


# ---- text ------------------------------------------------------------------------------------


def _note_empty(findings: _Findings, class_name: str, source: str, empty: list[int], unit: str) -> None:
    if empty:
        findings.notes.append(
            f"{f'Class {class_name!r}: ' if class_name else ''}{source}: skipped "
            f"{_plural(len(empty), f'empty {unit}')} ({_rows_listed(empty)}).")


def _text_row_candidates(rows: Iterable[TextRow], class_index: int, source: str, field_name: str,
                         class_name: str, settings: Settings, findings: _Findings,
                         unit: str = "row") -> list[_Candidate]:
    """Candidates from one file's rows; empty rows are noted, over-long rows are problems."""
    candidates, empty = [], []
    for row in rows:
        where = f"{source} {unit} {row.row}"
        if not row.text:
            empty.append(row.row)
        elif len(row.text) > settings.text_max_chars:
            findings.problems.append(Problem(
                field=field_name, class_name=class_name, item=where,
                reason=(f"the {unit} is {len(row.text)} characters long; "
                        f"the limit is {settings.text_max_chars}"),
                fix="Shorten it or remove it."))
        else:
            encoded = row.text.encode("utf-8")
            candidates.append(_Candidate(
                class_index=class_index, sha256=sha256_hex(encoded), source=where,
                field=field_name, size=len(encoded), text=row.text))
    _note_empty(findings, class_name, source, empty, unit)
    return candidates


def _decode_staged(storage: Storage, settings: Settings, staged: StagedFile, field_name: str,
                   class_name: str, findings: _Findings) -> str | None:
    try:
        data, size = _read_staged(storage, staged, settings.text_max_file_bytes)
        decoded = decode_text_file(data, staged.filename, settings.text_max_file_bytes, full_size=size)
    except ObjectNotFound:
        findings.problems.append(_missing(field_name, class_name, staged))
        return None
    except TextFileRejected as error:
        findings.problems.append(Problem(field=field_name, class_name=class_name, item=staged.filename,
                                         reason=error.reason, fix=error.fix))
        return None
    if decoded.note:
        findings.notes.append(decoded.note)
    return decoded.text


def _text_candidates(request: PreprocessRequest, storage: Storage, settings: Settings,
                     findings: _Findings, progress: Progress) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    names = request.class_names
    total = len(request.files) + (1 if request.labelled_csv else 0)
    for done, staged in enumerate(request.files, start=1):
        index = staged.class_index or 0
        field_name = f"class_{index}_files"
        text = _decode_staged(storage, settings, staged, field_name, names[index], findings)
        if text is None:
            continue
        try:
            rows = read_text_column(text, settings.text_max_chars,
                                    one_per_line=staged.filename.lower().endswith(".txt"))
        except TextFileRejected as error:
            findings.problems.append(Problem(field=field_name, class_name=names[index], item=staged.filename,
                                             reason=error.reason, fix=error.fix))
            continue
        candidates += _text_row_candidates(rows, index, staged.filename, field_name, names[index],
                                           settings, findings)
        progress(done, total)
    for index, pasted in sorted(request.pasted.items()):
        field_name = f"class_{index}_text"
        candidates += _text_row_candidates(read_pasted_lines(pasted), index, "pasted text", field_name,
                                           names[index], settings, findings, unit="line")
    if request.labelled_csv:
        candidates += _labelled_candidates(request, request.labelled_csv, storage, settings, findings)
        progress(total, total)
    return candidates


def _labelled_candidates(request: PreprocessRequest, staged: StagedFile, storage: Storage,
                         settings: Settings, findings: _Findings) -> list[_Candidate]:
    text = _decode_staged(storage, settings, staged, "labelled_csv", "", findings)
    if text is None:
        return []
    try:
        rows = read_labelled_csv(text, request.class_names, settings.text_max_chars)
    except TextFileRejected as error:
        findings.problems.append(Problem(field="labelled_csv", item=staged.filename,
                                         reason=error.reason, fix=error.fix))
        return []
    index_of = {name.casefold(): i for i, name in enumerate(request.class_names)}
    unknown: dict[str, list[int]] = {}
    empty: list[int] = []
    by_class: dict[int, list[TextRow]] = {}
    for row in rows:
        index = index_of.get(row.label.casefold())
        if not row.text and not row.label:
            empty.append(row.row)
        elif index is None:
            unknown.setdefault(row.label, []).append(row.row)
        else:
            by_class.setdefault(index, []).append(TextRow(row.row, row.text))
    _note_empty(findings, "", staged.filename, empty, "row")
    classes = ", ".join(repr(name) for name in request.class_names)
    for label, numbers in unknown.items():
        findings.problems.append(Problem(
            field="labelled_csv",
            item=f"{staged.filename} row{'s' if len(numbers) > 1 else ''} {_rows_listed(numbers)}",
            reason=(f"the label {label!r} is not one of the classes ({classes})" if label
                    else "the row has no label"),
            fix="Correct the label, or add a class with that name."))
    candidates = []
    for index, class_rows in sorted(by_class.items()):
        candidates += _text_row_candidates(class_rows, index, staged.filename, "labelled_csv",
                                           request.class_names[index], settings, findings)
    return candidates


# ---- across the whole upload -----------------------------------------------------------------


def _deduplicate(candidates: list[_Candidate], names: list[str], kind: str,
                 findings: _Findings) -> list[_Candidate]:
    """Keep the first of identical samples in a class (noted); the same sample in two classes
    is a problem, since it cannot be both."""
    first: dict[str, _Candidate] = {}
    kept, dropped = [], {}
    what = "image" if kind == "image" else "text"
    for candidate in candidates:
        earlier = first.get(candidate.sha256)
        if earlier is None:
            first[candidate.sha256] = candidate
            kept.append(candidate)
        elif earlier.class_index == candidate.class_index:
            dropped.setdefault(candidate.class_index, []).append(f"{candidate.source} = {earlier.source}")
        else:
            findings.problems.append(Problem(
                field=candidate.field, class_name=names[candidate.class_index], item=candidate.source,
                reason=f"the same {what} is also in class {names[earlier.class_index]!r} ({earlier.source})",
                fix="Keep it in one class only."))
    for index, pairs in sorted(dropped.items()):
        shown = "; ".join(pairs[:_MAX_ROWS_LISTED]) + (
            f"; and {len(pairs) - _MAX_ROWS_LISTED} more" if len(pairs) > _MAX_ROWS_LISTED else "")
        findings.notes.append(
            f"Class {names[index]!r}: kept one of each exact duplicate, skipped "
            f"{_plural(len(pairs), 'duplicate')} ({shown}).")
    return kept


def _check_counts(request: PreprocessRequest, candidates: list[_Candidate], settings: Settings,
                  findings: _Findings) -> None:
    if request.kind == "image":
        low, high, unit = settings.image_min_per_class, settings.image_max_per_class, "image"
    else:
        low, high, unit = settings.text_min_per_class, settings.text_max_per_class, "example"
    counts = [0] * len(request.class_names)
    for candidate in candidates:
        counts[candidate.class_index] += 1
    with_files = {f.class_index for f in request.files}
    for index, count in enumerate(counts):
        if low <= count <= high:
            continue
        # Shown next to where this class's examples came from.
        if request.kind == "text" and index not in with_files and index in request.pasted:
            field_name = f"class_{index}_text"
        elif request.kind == "text" and index not in with_files and request.labelled_csv:
            field_name = "labelled_csv"
        else:
            field_name = f"class_{index}_files"
        findings.problems.append(Problem(
            field=field_name, class_name=request.class_names[index],
            reason=(f"{_plural(count, unit)}; at least {low} are needed" if count < low
                    else f"{_plural(count, unit)}; at most {high} are allowed"),
            fix=(f"Add {low - count} more." if count < low else f"Remove {count - high}.")))


def _cap_per_field(problems: list[Problem]) -> list[Problem]:
    """At most a screenful per field: 500 bad rows are one mistake repeated, not 500."""
    shown: dict[str, int] = {}
    capped, hidden = [], {}
    for problem in problems:
        shown[problem.field] = shown.get(problem.field, 0) + 1
        if shown[problem.field] <= _MAX_PROBLEMS_PER_FIELD:
            capped.append(problem)
        else:
            hidden[problem.field] = hidden.get(problem.field, 0) + 1
    for field_name, count in hidden.items():
        capped.append(Problem(field=field_name, reason=f"{_plural(count, 'more problem')} like these",
                              fix="Fix the ones above and upload again."))
    return capped


def image_val_fraction(per_class: float, settings: Settings) -> float:
    """Linear from the small-set share at the fewest images per class to the large-set share
    at the most (DESIGN.md: 80:20 up to 70:30)."""
    low, high = settings.image_min_per_class, settings.image_max_per_class
    position = 0.0 if high <= low else min(max((per_class - low) / (high - low), 0.0), 1.0)
    return settings.image_val_fraction_small + position * (
        settings.image_val_fraction_large - settings.image_val_fraction_small)


# ---- writing ---------------------------------------------------------------------------------


def _build_manifest(request: PreprocessRequest, dataset_id: str, candidates: list[_Candidate],
                    settings: Settings, notes: list[str]) -> DatasetManifest:
    per_class: list[list[_Candidate]] = [[] for _ in request.class_names]
    for candidate in candidates:
        per_class[candidate.class_index].append(candidate)
    if request.kind == "image":
        val_fraction = image_val_fraction(len(candidates) / len(request.class_names), settings)
    else:
        val_fraction = settings.text_val_fraction
    splits = stratified_split([[c.sha256 for c in group] for group in per_class], val_fraction)
    samples = [
        Sample(class_index=c.class_index, split=split, sha256=c.sha256, size=c.size, source=c.source,
               ext=c.ext, text=c.text)
        for group, labels in zip(per_class, splits, strict=True)
        for c, split in zip(group, labels, strict=True)
    ]
    return DatasetManifest(
        dataset_id=dataset_id, project_id=request.project_id, kind=request.kind,
        class_names=list(request.class_names), samples=samples, val_fraction=val_fraction,
        featurizer=request.featurizer, augment=request.augment, notes=notes)


def _write_samples(storage: Storage, manifest: DatasetManifest, candidates: list[_Candidate],
                   workers: int) -> None:
    if manifest.kind != "image":
        return  # text rows live in the manifest itself

    def write(pair: tuple[Sample, _Candidate]) -> None:
        sample, candidate = pair
        data = candidate.data if candidate.data is not None else storage.get(candidate.copy_from)
        storage.put(sample_key(manifest.project_id, manifest.dataset_id, sample), data)

    by_hash = {c.sha256: c for c in candidates}
    with ThreadPoolExecutor(workers, thread_name_prefix="preprocess-put") as pool:
        list(pool.map(write, [(s, by_hash[s.sha256]) for s in manifest.samples]))


def _save_project(request: PreprocessRequest, storage: Storage,
                  existing: projects.Project | None) -> bool:
    """Create the project, or record its current class list; True if it was created now."""
    if existing is None:
        projects.create_project(storage, request.owner, request.project_name, request.kind,
                                request.class_names, featurizer=request.featurizer,
                                project_id=request.project_id)
        return True
    if existing.class_names != request.class_names or existing.featurizer != request.featurizer:
        existing.class_names = list(request.class_names)
        existing.featurizer = request.featurizer
        projects.save_project(storage, existing)
    return False


def _start_trainer(settings: Settings, notes: list[str]) -> None:
    if not (settings.is_aws and settings.trainer_instance_id):
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from lambda_preprocess.trainer_instance import ensure_trainer_running

    try:
        ensure_trainer_running(boto3.client("ec2", region_name=settings.aws_region),
                               settings.trainer_instance_id)
    except (BotoCoreError, ClientError) as error:
        # The job is safely queued; the trainer takes it when it next runs.
        _logger.error("could not start trainer %s: %s", settings.trainer_instance_id, error)
        notes.append("The trainer could not be started just now; the job waits in the queue.")


def preprocess(request: PreprocessRequest | dict, storage: Storage, settings: Settings,
               progress: Progress | None = None, workers: int = DEFAULT_WORKERS) -> dict:
    """Validate, normalize, split and snapshot one upload, then queue its training job.

    Returns ``{"ok": True, "project_id", "dataset_id", "job_id", "notes", "counts"}``.

    Raises:
        ValidationFailed: every problem found; nothing was written.
        BadRequest: the request itself is malformed.
    """
    if isinstance(request, dict):
        request = PreprocessRequest.from_payload(request)
    progress = progress or (lambda done, total: None)
    findings = _Findings()
    if request.archive is not None:
        request, findings.notes = _expand_archive(request, request.archive, storage, settings, workers)
    existing = _check_project(request, storage, settings, findings)
    candidates = _base_candidates(request, storage, existing, findings)
    if request.kind == "image":
        candidates += _image_candidates(request, storage, settings, findings, progress, workers)
    else:
        candidates += _text_candidates(request, storage, settings, findings, progress)
    candidates = _deduplicate(candidates, request.class_names, request.kind, findings)
    if not any(p.field == "classes" for p in findings.problems):
        _check_counts(request, candidates, settings, findings)
    if findings.problems:
        raise ValidationFailed(_cap_per_field(findings.problems))

    dataset_id = new_id()
    manifest = _build_manifest(request, dataset_id, candidates, settings, findings.notes)
    created_project = False
    try:
        _write_samples(storage, manifest, candidates, workers)
        write_manifest(storage, manifest)
        created_project = _save_project(request, storage, existing)
        job = submit_job(storage, request.project_id, dataset_id, request.kind,
                         featurizer=request.featurizer, options={"augment": request.augment})
    except BaseException:
        # Nothing half-written stays visible: the snapshot, and a project made just now.
        storage.delete_prefix(dataset_prefix(request.project_id, dataset_id))
        if created_project:
            storage.delete(projects.project_key(request.project_id))
            storage.delete(f"owners/{request.owner}/{request.project_id}")
        raise
    _start_trainer(settings, findings.notes)
    _logger.info("upload %s: dataset %s (%d samples) queued as job %s", request.upload_id,
                 dataset_id, len(manifest.samples), job.job_id)
    return {"ok": True, "project_id": request.project_id, "dataset_id": dataset_id,
            "job_id": job.job_id, "notes": findings.notes, "counts": manifest.counts()}


# ---- the background entry point -------------------------------------------------------------


def _status(storage: Storage, payload: dict) -> UploadStatus:
    upload_id = str(payload.get("upload_id", ""))
    try:
        return get_upload_status(storage, upload_id)
    except NotFound:
        return UploadStatus(upload_id=upload_id, project_id=str(payload.get("project_id", "")),
                            owner=str(payload.get("owner", "")), state=UploadState.VALIDATING.value)


def _earlier_outcome(status: UploadStatus) -> dict:
    """What a finished upload answered: an event delivered twice must not redo (or undo) it."""
    if status.state == UploadState.QUEUED:
        return {"ok": True, "project_id": status.project_id, "dataset_id": status.dataset_id,
                "job_id": status.job_id, "notes": status.notes, "repeated": True}
    status_code = 400 if status.state == UploadState.REJECTED else 500
    return {"ok": False, "status": status_code, "error": "validation_failed" if status.problems else "",
            "message": status.message, "problems": status.problems, "repeated": True}


def _run(payload: dict, storage: Storage, settings: Settings, status: UploadStatus) -> dict:
    def report(done: int, total: int) -> None:
        status.progress = {"done": done, "total": total}
        write_upload_status(storage, status)

    try:
        result = preprocess(payload, storage, settings, progress=report)
    except TeachboxError as error:
        status.state = UploadState.REJECTED.value
        status.message = error.message
        status.problems = [p.to_dict() for p in getattr(error, "problems", [])]
        return error_to_payload(error)
    except Exception:
        _logger.exception("upload %s: preprocessing failed", status.upload_id)
        status.state = UploadState.ERROR.value
        status.message = _FAILED
        return {"ok": False, "status": 500, "error": "internal_error", "message": _FAILED}
    status.state = UploadState.QUEUED.value
    status.job_id, status.dataset_id = result["job_id"], result["dataset_id"]
    status.notes = result["notes"]
    status.message = "Your examples are ready; training is queued."
    return result


def handle(payload: dict, storage: Storage, settings: Settings) -> dict[str, Any]:
    """Run ``preprocess`` for the invoker and record the outcome in the upload status.

    Never raises: it runs in the background, so every outcome ends in the status the page polls
    (``queued``, ``rejected`` with every problem, or ``error``) and in the returned dict. An
    upload that already has an outcome (a repeated event) is answered from its status.
    """
    upload_id = str(payload.get("upload_id", ""))
    if not _ID.fullmatch(upload_id):
        return error_to_payload(BadRequest("The upload request has an invalid upload id."))
    try:
        status = _status(storage, payload)
    except Exception:
        _logger.exception("upload %s: could not read its status", upload_id)
        return {"ok": False, "status": 500, "error": "internal_error", "message": _FAILED}
    if status.state != UploadState.VALIDATING:
        return _earlier_outcome(status)
    outcome = _run(payload, storage, settings, status)
    # Best effort from here on: the outcome is decided, and raising would lose it.
    try:
        storage.delete_prefix(staging_prefix(upload_id))
    except Exception:
        _logger.exception("upload %s: could not remove its staging files", upload_id)
    try:
        write_upload_status(storage, status)
    except Exception:
        _logger.exception("upload %s: could not record its outcome %s", upload_id, status.state)
    return outcome
