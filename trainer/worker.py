"""The trainer's loop and one training job, as small named steps tests can call one by one.

``Worker.work`` is one ``while True`` of ``check_stop -> claim_next_job -> run_job ->
record_trainer``; ``run_job`` maps every expected way out of a job to its job state.
``train_job`` is the job itself: ``load_dataset -> compute_features -> fit -> evaluate ->
publish -> promote``, with a :class:`JobHeartbeat` thread writing progress meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from teachbox import jobs
from teachbox.bundles import ModelMeta, promote_model, reserve_version, write_bundle
from teachbox.datasets import DatasetManifest, Sample, dataset_prefix, load_manifest, sample_key, sha256_hex
from teachbox.errors import NotFound
from teachbox.featurizers import Featurizer, create_featurizer
from teachbox.jobs import Claim, ClaimLost, JobCancelled
from teachbox.ngrams import NgramVocabulary, fit_ngrams_from_terms, text_terms
from teachbox.serving import INPUT_EMBEDDING, INPUT_NGRAMS, TUNED_GRAPH, TUNED_TEXT, Head, head_input
from teachbox.settings import Settings
from teachbox.storage import ObjectNotFound, Storage, new_id
from trainer.augment import AUGMENT_VIEWS, augment_image
from trainer.features import FeatureCache, UnreadableInputs
from trainer.training import FitResult, HeadConfig, classification_metrics, fit_head

__all__ = [
    "DatasetError",
    "ShutdownRequested",
    "JobHeartbeat",
    "TrainedModel",
    "Worker",
    "FeatureBlocks",
    "train_job",
    "choose_featurizer",
    "load_dataset",
    "compute_features",
    "fit",
    "evaluate",
    "publish",
    "stop_own_instance",
]

_logger = logging.getLogger(__name__)

DEFAULT_FEATURIZERS = {"image": "lite0", "text": "minilm"}
# Share of the progress bar per phase; features dominate the time of a first training.
_PHASES = {"features": (0, 60), "training": (60, 85), "evaluating": (85, 90), "saving": (90, 100)}
# Fine-tuning the encoder first takes about 100x a frozen pass (docs/models.md): it gets most of the bar.
_TUNED_PHASES = {"tuning": (0, 80), "features": (80, 88), "training": (88, 95), "evaluating": (95, 97),
                 "saving": (97, 100)}
_MLP_HIDDEN = 128
_LOAD_THREADS = 8  # sample reads are I/O (S3 GETs), not CPU
# An idle trainer re-records itself this often for the admin page, not on every poll:
# in AWS mode each record is an S3 PUT.
_TRAINER_RECORD_SECONDS = 30.0


class DatasetError(Exception):
    """The job's dataset cannot be trained on; the message tells the user what to do.
    Retrying cannot help, so the job fails at once."""


class ShutdownRequested(Exception):
    """The trainer is stopping: give the job back at this safe point."""


class JobHeartbeat:
    """Writes the job's heartbeat and progress every ``interval`` seconds from a thread.

    The training thread calls :meth:`update` as it goes and :meth:`checkpoint` at safe
    points, where a lost claim, a cancel request or a shutdown request is raised.
    """

    def __init__(
        self, storage: Storage, claim: Claim, interval: float,
        stop_requested: threading.Event | None = None,
    ) -> None:
        self.storage = storage
        self.claim = claim
        self.interval = interval
        self.stop_requested = stop_requested or threading.Event()
        self.started = time.monotonic()
        self.phases = dict(_PHASES)  # share of the bar per phase; a fine-tuning job has its own
        self._progress: dict[str, Any] = {"phase": "starting", "percent": 0}
        self._error: Exception | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def __enter__(self) -> JobHeartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def update(self, phase: str, fraction: float = 0.0) -> None:
        low, high = self.phases[phase]
        percent = low + (high - low) * min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self.started
        eta = elapsed * (100 - percent) / percent if percent > 0 else None
        with self._lock:
            self._progress = {"phase": phase, "percent": round(percent, 1),
                              "elapsed": round(elapsed, 1),
                              "eta_seconds": None if eta is None else round(eta, 1)}

    def checkpoint(self) -> None:
        """Raise ClaimLost / JobCancelled seen by the heartbeat, or ShutdownRequested."""
        if self._error is not None:
            raise self._error
        if self.stop_requested.is_set():
            raise ShutdownRequested("the trainer is shutting down")

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        if self._error is not None:
            return
        with self._lock:
            progress = dict(self._progress)
        try:
            jobs.heartbeat(self.storage, self.claim, progress)
        except (ClaimLost, JobCancelled) as error:
            self._error = error
        except Exception as error:  # a storage hiccup: the next beat may succeed; the lease is long
            _logger.warning("job %s: heartbeat failed: %s", self.claim.job.job_id, error)


@dataclass
class TrainedModel:
    """What ``train_job`` produced: the promoted version and what the exports need."""

    meta: ModelMeta
    head: Head
    featurizer: Featurizer
    export_head: Head | None  # embeddings-only head for exports, when the chosen one uses n-grams
    summary: dict = field(default_factory=dict)


def load_dataset(storage: Storage, project_id: str, dataset_id: str) -> DatasetManifest:
    try:
        manifest = load_manifest(storage, project_id, dataset_id)
    except NotFound:
        raise DatasetError(
            "The examples for this training are gone (the dataset snapshot was deleted); "
            "upload the examples again and retrain."
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetError(
            f"The dataset snapshot is damaged ({error}); upload the examples again and retrain."
        ) from None
    for split in ("train", "val"):
        counts = {name: 0 for name in manifest.class_names}
        for sample in manifest.split(split):
            counts[manifest.class_names[sample.class_index]] += 1
        empty = [name for name, n in counts.items() if n == 0]
        if empty:
            raise DatasetError(
                f"Class {', '.join(repr(n) for n in empty)} has no {split} examples; "
                "add more examples to it and retrain."
            )
    return manifest


def _damaged(manifest: DatasetManifest, samples: list[Sample], what: str) -> DatasetError:
    names = [f"'{s.source}' (class '{manifest.class_names[s.class_index]}')" for s in samples]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return DatasetError(
        f"{len(samples)} example{'s' if len(samples) > 1 else ''} of this dataset "
        f"{'are' if len(samples) > 1 else 'is'} {what}: {shown}. "
        "Upload the examples again and retrain."
    )


def _check_image_objects(storage: Storage, manifest: DatasetManifest) -> None:
    """Every sample object is present (one listing, not one request per sample)."""
    present = set(storage.list(dataset_prefix(manifest.project_id, manifest.dataset_id) + "samples/"))
    missing = [s for s in manifest.samples
               if sample_key(manifest.project_id, manifest.dataset_id, s) not in present]
    if missing:
        raise _damaged(manifest, missing, "missing from storage")


def _image_loader(storage: Storage, manifest: DatasetManifest, samples: list[Sample]) -> Callable:
    def load(indexes: list[int]) -> list[bytes]:
        def get(index: int) -> bytes | None:
            sample = samples[index]
            try:
                data = storage.get(sample_key(manifest.project_id, manifest.dataset_id, sample))
            except ObjectNotFound:
                return None
            return data if sha256_hex(data) == sample.sha256 else None

        with ThreadPoolExecutor(_LOAD_THREADS) as pool:
            loaded = list(pool.map(get, indexes))
        bad = [samples[i] for i, data in zip(indexes, loaded, strict=True) if data is None]
        if bad:
            raise _damaged(manifest, bad, "missing or damaged (its content no longer matches)")
        return loaded

    return load


@dataclass
class _Candidate:
    inputs: list[str]
    fit: FitResult
    val_proba: np.ndarray
    val_acc: float


def _fit_candidates(
    plans: list[tuple[list[str], HeadConfig]], blocks: FeatureBlocks, n_classes: int, beat: JobHeartbeat
) -> list[_Candidate]:
    candidates = []
    for number, (inputs, config) in enumerate(plans):
        def on_epoch(epoch: int, max_epochs: int, number: int = number) -> None:
            beat.update("training", (number + epoch / max_epochs) / len(plans))
            beat.checkpoint()

        x_train = head_input(inputs, blocks.train.get(INPUT_EMBEDDING), blocks.train.get(INPUT_NGRAMS))
        x_val = head_input(inputs, blocks.val.get(INPUT_EMBEDDING), blocks.val.get(INPUT_NGRAMS))
        result = fit_head(x_train, blocks.y_train, x_val, blocks.y_val, n_classes, config, on_epoch=on_epoch)
        # Judge every candidate by the numpy head that serving runs, not the torch module.
        proba = result.head.predict_proba(x_val)
        accuracy = float((proba.argmax(axis=1) == blocks.y_val).mean())
        candidates.append(_Candidate(inputs, result, proba, accuracy))
        _logger.info("candidate %s on %s: val acc %.3f loss %.4f (epoch %d)", config.type,
                     "+".join(inputs), accuracy, result.val_loss, result.best_epoch)
    return candidates


def _best(candidates: list[_Candidate]) -> _Candidate:
    """Best validation accuracy; on a tie the first, i.e. the simplest (plans go simple first)."""
    return max(candidates, key=lambda c: c.val_acc)  # max keeps the first of equals


@dataclass
class FeatureBlocks:
    """Every feature block a head may use, train and validation rows apart."""

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    y_train: np.ndarray
    y_val: np.ndarray
    vocabulary: NgramVocabulary | None = None
    augmented_views: int = 0


def compute_features(
    storage: Storage, manifest: DatasetManifest, cache: FeatureCache, augment: bool, beat: JobHeartbeat
) -> FeatureBlocks:
    """Backbone features of every sample (cached), augmented views, and text n-grams."""
    train, val = manifest.split("train"), manifest.split("val")
    samples = train + val

    def on_features(done: int, total: int) -> None:
        beat.update("features", done / max(total, 1))
        beat.checkpoint()

    if manifest.kind == "image":
        _check_image_objects(storage, manifest)
        try:
            embeddings = cache.features([s.sha256 for s in samples],
                                        _image_loader(storage, manifest, samples), on_features)
        except UnreadableInputs as error:
            unreadable = [samples[i] for i in error.indexes]
            raise _damaged(manifest, unreadable, "damaged (not readable as an image)") from None
    else:
        texts = [s.text for s in samples]
        embeddings = cache.features([s.sha256 for s in samples], lambda idx: [texts[i] for i in idx],
                                    on_features)
    y = np.array([s.class_index for s in samples], dtype=np.int64)
    n = len(train)
    blocks = FeatureBlocks(train={INPUT_EMBEDDING: embeddings[:n]}, val={INPUT_EMBEDDING: embeddings[n:]},
                           y_train=y[:n], y_val=y[n:])
    if augment:
        # Views are deterministic, so their features are cached like the originals'.
        views = [(row, view) for row in range(n) for view in AUGMENT_VIEWS]
        load_train = _image_loader(storage, manifest, train)

        def load_views(indexes: list[int]) -> list[bytes]:
            originals = load_train([views[i][0] for i in indexes])
            return [augment_image(data, views[i][1]) for data, i in zip(originals, indexes, strict=True)]

        augmented = cache.features([f"{train[row].sha256}.{view}" for row, view in views], load_views,
                                   on_features)
        blocks.train[INPUT_EMBEDDING] = np.concatenate([embeddings[:n], augmented])
        blocks.y_train = np.concatenate([blocks.y_train, blocks.y_train[[row for row, _ in views]]])
        blocks.augmented_views = len(views)
    if manifest.kind == "text":
        terms = [text_terms(s.text) for s in samples]  # split once, for fitting and transforming
        blocks.vocabulary = fit_ngrams_from_terms(terms[:n])
        blocks.train[INPUT_NGRAMS] = blocks.vocabulary.transform_terms(terms[:n])
        blocks.val[INPUT_NGRAMS] = blocks.vocabulary.transform_terms(terms[n:])
    return blocks


def fit(blocks: FeatureBlocks, kind: str, n_classes: int, beat: JobHeartbeat) -> list[_Candidate]:
    """Train the candidate heads, simplest first (so a tie in :func:`_best` keeps the simplest)."""
    linear, mlp = HeadConfig(), HeadConfig(hidden=_MLP_HIDDEN)
    if kind == "text":
        plans = [([INPUT_EMBEDDING], linear), ([INPUT_NGRAMS], linear),
                 ([INPUT_EMBEDDING, INPUT_NGRAMS], linear)]
    else:
        plans = [([INPUT_EMBEDDING], linear)]
    candidates = _fit_candidates(plans, blocks, n_classes, beat)
    # An MLP can only win by beating the linear heads (a tie keeps the simplest), so it is
    # not trained when one is already perfect. It sees the dense embeddings only: on the
    # 4000 sparse n-gram columns it costs 7x a linear epoch (bench) for what a linear head does.
    if _best(candidates).val_acc < 1.0:
        candidates += _fit_candidates([([INPUT_EMBEDDING], mlp)], blocks, n_classes, beat)
    return candidates


def evaluate(
    manifest: DatasetManifest, blocks: FeatureBlocks, chosen: _Candidate, candidates: list[_Candidate]
) -> dict:
    """The metrics stored in model.json, from the chosen numpy head's validation probabilities."""
    train, val = manifest.split("train"), manifest.split("val")
    metrics = classification_metrics(blocks.y_val, chosen.val_proba, manifest.class_names,
                                     [s.sha256 for s in val], [s.source for s in val])
    metrics["history"] = chosen.fit.history
    metrics["sizes"] = {"train": len(train), "val": len(val), "per_class": manifest.counts()}
    if blocks.augmented_views:
        metrics["sizes"]["train_augmented_views"] = blocks.augmented_views
    metrics["candidates"] = [
        {"type": c.fit.config.type, "inputs": c.inputs, "val_acc": c.val_acc,
         "val_loss": c.fit.val_loss, "best_epoch": c.fit.best_epoch} for c in candidates
    ]
    return metrics


def publish(
    storage: Storage, meta: ModelMeta, blocks: FeatureBlocks, chosen: _Candidate,
    candidates: list[_Candidate], extra_files: dict[str, bytes] | None = None,
) -> Head | None:
    """Reserve a version and write the bundle, model.json last. Returns the head the exports
    should use when it is not the chosen one (n-gram heads export embeddings only).
    ``extra_files`` (a fine-tuned encoder graph) go into the bundle as they are."""
    files = {"head.npz": chosen.fit.head.to_npz(), **(extra_files or {})}
    meta.head = {
        "type": chosen.fit.config.type, "inputs": chosen.inputs, "weights": "head.npz",
        "hidden": chosen.fit.config.hidden, "standardized": True, "activation": "relu",
        "best_epoch": chosen.fit.best_epoch, "augment": bool(blocks.augmented_views),
        "exports": {"files": list(EXPORT_FILES) + (["exports/tokenizer.json"] if meta.kind == "text" else []),
                    "note": "written after promotion; all present once the job is 'succeeded'"},
    }
    if INPUT_NGRAMS in chosen.inputs:
        files["ngrams.json"] = json.dumps(blocks.vocabulary.to_dict()).encode("utf-8")
        meta.head["ngrams"] = "ngrams.json"
    export_head = None
    if chosen.inputs != [INPUT_EMBEDDING]:
        embedding_only = _best([c for c in candidates if c.inputs == [INPUT_EMBEDDING]])
        export_head = embedding_only.fit.head
        files["export_head.npz"] = export_head.to_npz()
        meta.head["export_weights"] = "export_head.npz"
        meta.head["exports_note"] = (
            "The downloadable exports use the embeddings-only head "
            f"(validation accuracy {embedding_only.val_acc:.3f}); n-gram features are "
            "computed in Python and are not part of the ONNX/TorchScript graphs."
        )
    meta.version = reserve_version(storage, meta.project_id, meta.job_id)
    write_bundle(storage, meta, files)
    return export_head


def choose_featurizer(name: str, kind: str, settings: Settings) -> Featurizer:
    """The job's featurizer; DatasetError (the job fails at once, with a sentence) when the
    name is not installed here or is for the other kind of project."""
    try:
        featurizer = create_featurizer(name, settings.cache_dir, threads=settings.onnx_threads)
    except ValueError as error:
        raise DatasetError(
            f"The model {name!r} chosen for this training is not available on this trainer ({error}); "
            "choose another model and retrain, or install its package on the trainer."
        ) from None
    if featurizer.kind != kind:
        raise DatasetError(
            f"The model {name!r} reads {featurizer.kind}s, but this is {'an' if kind == 'image' else 'a'} "
            f"{kind} project; "
            "choose another model and retrain."
        )
    return featurizer


def train_job(
    storage: Storage, settings: Settings, claim: Claim, beat: JobHeartbeat
) -> TrainedModel:
    """Train the claimed job, write its model version and promote it:
    load_dataset -> compute_features -> fit -> evaluate -> publish -> promote."""
    job = claim.job
    started = time.monotonic()
    timings: dict[str, float] = {}

    manifest = load_dataset(storage, job.project_id, job.dataset_id)
    name = job.featurizer or manifest.featurizer or DEFAULT_FEATURIZERS[manifest.kind]
    bundle_files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="teachbox-tuned-") as scratch:
        if name == TUNED_TEXT:
            from trainer.finetune import tune_text_featurizer

            beat.phases = dict(_TUNED_PHASES)
            beat.update("tuning", 0.0)
            featurizer, bundle_files = tune_text_featurizer(manifest, settings, beat, Path(scratch))
            timings["tuning_s"] = time.monotonic() - started
            # Its features belong to this job's encoder alone: never into the shared cache.
            cache = FeatureCache(scratch, featurizer)
        else:
            beat.update("features", 0.0)
            featurizer = choose_featurizer(name, manifest.kind, settings)
            cache = FeatureCache(settings.cache_dir, featurizer)
        augment = bool(job.options.get("augment", manifest.augment)) and manifest.kind == "image"
        blocks = compute_features(storage, manifest, cache, augment, beat)
    timings["features_s"] = time.monotonic() - started - timings.get("tuning_s", 0.0)
    beat.checkpoint()

    mark = time.monotonic()
    candidates = fit(blocks, manifest.kind, len(manifest.class_names), beat)
    chosen = _best(candidates)
    timings["training_s"] = time.monotonic() - mark

    mark = time.monotonic()
    beat.update("evaluating", 0.0)
    metrics = evaluate(manifest, blocks, chosen, candidates)
    timings["evaluating_s"] = time.monotonic() - mark
    beat.checkpoint()

    beat.update("saving", 0.0)
    meta = ModelMeta(
        version="", project_id=job.project_id, kind=manifest.kind,
        class_names=list(manifest.class_names), featurizer=featurizer.describe(), head={},
        dataset_id=manifest.dataset_id, job_id=job.job_id, metrics=metrics,
    )
    if bundle_files:
        meta.featurizer["graph"] = TUNED_GRAPH  # serving runs this bundle's own encoder
    # model.json carries the timings, so saving_s covers everything but its own write.
    timings["saving_s"] = 0.0
    timings["total_s"] = time.monotonic() - started
    meta.timings = {k: round(v, 3) for k, v in timings.items()}
    export_head = publish(storage, meta, blocks, chosen, candidates, bundle_files)
    beat.checkpoint()  # the last safe point: after promotion the job is done
    # A comparison job leaves the serving model alone: the person promotes the one they want.
    promote = job.options.get("promote", True) is not False
    if promote:
        promote_model(storage, job.project_id, meta.version)
    _logger.info("job %s: %s %s/%s (%s, val acc %.3f) in %.2f s", job.job_id,
                 "promoted" if promote else "published", job.project_id, meta.version,
                 featurizer.name, metrics["accuracy"], time.monotonic() - started)
    summary = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
               "featurizer": featurizer.name, "promoted": promote}
    return TrainedModel(meta, chosen.fit.head, featurizer, export_head, summary)


EXPORT_FILES = ("exports/model.onnx", "exports/model.torchscript.pt", "exports/classes.txt",
                "exports/README.md")


def stop_own_instance(settings: Settings, ec2_client: Any = None) -> bool:
    """Stop this trainer's EC2 instance (AWS mode, instance id configured). True if asked."""
    if not (settings.is_aws and settings.trainer_instance_id):
        return False
    if ec2_client is None:
        import boto3

        ec2_client = boto3.client("ec2", region_name=settings.aws_region)
    _logger.info("idle: stopping own EC2 instance %s", settings.trainer_instance_id)
    ec2_client.stop_instances(InstanceIds=[settings.trainer_instance_id])
    return True


class Worker:
    """A trainer: claims jobs from storage and runs them, one at a time."""

    def __init__(
        self, storage: Storage, settings: Settings, trainer_id: str | None = None,
        ec2_client: Any = None, export: bool = True,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.trainer_id = trainer_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[:4]}"
        self.ec2_client = ec2_client
        self.export = export
        self.stop_requested = threading.Event()
        self.jobs_done = 0
        self._claim: Claim | None = None
        self._recorded: tuple[str, str, float] = ("", "", 0.0)

    def request_stop(self) -> None:
        """First stage of shutdown: finish or release the job at its next safe point."""
        self.stop_requested.set()

    def work(
        self, burst: bool = False, max_jobs: int | None = None, max_idle_time: float | None = None
    ) -> int:
        """Run jobs until stopped. ``burst``: stop when the queue is empty. ``max_jobs``:
        stop after that many. ``max_idle_time``: stop after that long without a job (default:
        the idle-stop setting in AWS mode, which then also stops this EC2 instance).
        Returns the number of jobs run."""
        if max_idle_time is None and self.settings.is_aws and self.settings.trainer_idle_stop_seconds:
            max_idle_time = self.settings.trainer_idle_stop_seconds
        idle_since = time.monotonic()
        _logger.info("trainer %s: started", self.trainer_id)
        try:
            while True:
                if self.check_stop():
                    break
                claim = self.claim_next_job()
                if claim is None:
                    self.record_trainer("idle")
                    if burst:
                        _logger.info("trainer %s: queue empty, burst mode: stopping", self.trainer_id)
                        break
                    if max_idle_time and time.monotonic() - idle_since >= max_idle_time:
                        _logger.info("trainer %s: idle for %.0f s: stopping", self.trainer_id,
                                     max_idle_time)
                        stop_own_instance(self.settings, self.ec2_client)
                        break
                    self.stop_requested.wait(self.settings.trainer_poll_seconds)
                    continue
                self.run_job(claim)
                self.jobs_done += 1
                idle_since = time.monotonic()
                if max_jobs is not None and self.jobs_done >= max_jobs:
                    break
        finally:
            if self._claim is not None:  # leaving mid-job (second signal): give it back now
                jobs.release_claim(self.storage, self._claim, f"trainer {self.trainer_id} exited")
                self._claim = None
            self.record_trainer("stopped")
            _logger.info("trainer %s: stopped after %d job(s)", self.trainer_id, self.jobs_done)
        return self.jobs_done

    def record_trainer(self, state: str, job_id: str = "") -> None:
        """Tell the admin page what this trainer does (on a change, or every 30 s)."""
        last_state, last_job, last_at = self._recorded
        if (state, job_id) == (last_state, last_job) and time.monotonic() - last_at < _TRAINER_RECORD_SECONDS:
            return
        jobs.record_trainer(self.storage, self.trainer_id, state, job_id)
        self._recorded = (state, job_id, time.monotonic())

    def check_stop(self) -> bool:
        return self.stop_requested.is_set()

    def claim_next_job(self) -> Claim | None:
        return jobs.claim_next_job(self.storage, self.trainer_id, self.settings.lease_seconds,
                                   self.settings.max_attempts)

    def run_job(self, claim: Claim) -> None:
        """Train one claimed job and leave it in the state that says how it ended."""
        job = claim.job
        self._claim = claim
        _logger.info("job %s: claimed (project %s, dataset %s)", job.job_id, job.project_id,
                     job.dataset_id)
        self.record_trainer("training", job.job_id)
        try:
            with JobHeartbeat(self.storage, claim, self.settings.heartbeat_seconds,
                              self.stop_requested) as beat:
                trained = train_job(self.storage, self.settings, claim, beat)
                if self.export:
                    self.write_exports(trained, beat)
            jobs.mark_succeeded(self.storage, claim, trained.meta.version, trained.summary)
        except ClaimLost as error:
            _logger.warning("job %s: claim lost, dropping it: %s", job.job_id, error)
        except JobCancelled:
            _logger.info("job %s: cancelled by its owner", job.job_id)
            jobs.mark_cancelled(self.storage, claim)
        except ShutdownRequested:
            _logger.info("job %s: trainer shutting down, releasing the job", job.job_id)
            jobs.release_claim(self.storage, claim, f"released by {self.trainer_id} (shutting down)")
        except DatasetError as error:
            _logger.warning("job %s: dataset error: %s", job.job_id, error)
            jobs.mark_failed(self.storage, claim, str(error), self.settings.max_attempts, retry=False)
        except Exception as error:
            _logger.exception("job %s: training failed", job.job_id)
            jobs.mark_failed(
                self.storage, claim,
                f"Training stopped on an unexpected error ({type(error).__name__}: {error}); "
                "it is retried automatically.",
                self.settings.max_attempts, retry=True,
            )
        # Not in `finally`: when the process is told to exit now (second signal), the claim
        # stays recorded so `work` releases it on the way out.
        self._claim = None

    def write_exports(self, trained: TrainedModel, beat: JobHeartbeat) -> None:
        """The downloadable ONNX / TorchScript / class list, after promotion (not needed to
        serve, and slow: the backbone is traced again). The model is already promoted and
        serving, so a failed export is reported with the job instead of failing it."""
        from trainer.exports import NotExportable, write_exports

        try:
            write_exports(self.storage, trained.meta, trained.export_head or trained.head,
                          self.settings.cache_dir)
        except NotExportable:
            trained.summary["exports_error"] = (
                f"The model works, but models on {trained.featurizer.name!r} have no downloadable "
                "ONNX/TorchScript file; choose a built-in frozen model to get one."
            )
        except Exception as error:
            _logger.exception("job %s: exports failed", trained.meta.job_id)
            trained.summary["exports_error"] = (
                f"The model works, but its downloads could not be written ({type(error).__name__}: "
                f"{error}); retrain to try again."
            )
        beat.update("saving", 1.0)

