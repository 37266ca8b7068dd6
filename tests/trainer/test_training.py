"""Training through the real pipeline: drawn images and written texts, real featurizers."""

from __future__ import annotations

from pathlib import Path

import nltk
import numpy as np
import pytest

from teachbox.bundles import current_version, load_model_meta
from teachbox.datasets import DatasetManifest, load_sample_bytes
from teachbox.jobs import get_job
from teachbox.ngrams import fit_ngrams
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import Storage
from tests.trainer.conftest import shapes, submit, topic_texts, write_image_dataset, write_text_dataset
from trainer.worker import Worker

WEBSITE_METRIC_KEYS = {"accuracy", "macro_f1", "per_class", "confusion", "history", "misclassified", "sizes",
                       "val_predictions"}


def _train(storage: Storage, worker: Worker, manifest: DatasetManifest, **options: object):
    job = submit(storage, manifest, **options)
    worker.work(burst=True)
    job = get_job(storage, job.job_id)
    assert job.state == "succeeded", job.error
    return job, load_model_meta(storage, manifest.project_id, job.model_version)


def _val_inputs(storage: Storage, manifest: DatasetManifest, meta) -> list:
    by_sha = {s.sha256: s for s in manifest.split("val")}
    samples = [by_sha[p["sha256"]] for p in meta.metrics["val_predictions"]]
    if manifest.kind == "text":
        return [s.text for s in samples]
    return [load_sample_bytes(storage, manifest, s) for s in samples]


@pytest.mark.slow
def test_image_model_tells_drawn_shapes_apart(storage: Storage, worker: Worker) -> None:
    manifest = write_image_dataset(storage, shapes(16, seed=11))
    job, meta = _train(storage, worker, manifest)
    assert meta.metrics["accuracy"] >= 0.8
    assert job.metrics == {"accuracy": meta.metrics["accuracy"], "macro_f1": meta.metrics["macro_f1"],
                           "featurizer": "lite0", "promoted": True}
    assert current_version(storage, manifest.project_id) == meta.version


@pytest.mark.slow
def test_text_model_tells_topics_apart(storage: Storage, worker: Worker) -> None:
    manifest = write_text_dataset(storage, topic_texts(100, seed=3))
    _, meta = _train(storage, worker, manifest)
    assert meta.metrics["accuracy"] >= 0.8
    assert meta.head["inputs"] in (["embedding"], ["ngrams"], ["embedding", "ngrams"])
    assert {c["inputs"][0] for c in meta.metrics["candidates"]} == {"embedding", "ngrams"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["image", "text"])
def test_serving_reproduces_the_stored_validation_predictions(
    storage: Storage, worker: Worker, settings: Settings, kind: str
) -> None:
    if kind == "image":
        manifest = write_image_dataset(storage, shapes(12, seed=12))
    else:
        manifest = write_text_dataset(storage, topic_texts(100, seed=4))
    _, meta = _train(storage, worker, manifest)
    stored = np.array([p["probabilities"] for p in meta.metrics["val_predictions"]])

    model = load_model(storage, manifest.project_id, meta.version, settings.cache_dir)
    served = model.predict_proba(_val_inputs(storage, manifest, meta))

    np.testing.assert_allclose(served, stored, atol=1e-4)
    assert (served.argmax(axis=1) == stored.argmax(axis=1)).all()


@pytest.mark.slow
def test_metrics_hold_every_key_the_website_renders(storage: Storage, worker: Worker) -> None:
    manifest = write_image_dataset(storage, shapes(12, seed=13, classes=("circle", "square")))
    _, meta = _train(storage, worker, manifest)
    metrics = meta.metrics
    assert WEBSITE_METRIC_KEYS <= set(metrics)
    n_val = len(manifest.split("val"))
    assert sum(map(sum, metrics["confusion"])) == n_val
    assert [c["class"] for c in metrics["per_class"]] == ["circle", "square"]
    assert sum(c["support"] for c in metrics["per_class"]) == n_val
    assert metrics["sizes"] == {"train": len(manifest.split("train")), "val": n_val,
                                "per_class": manifest.counts()}
    assert set(metrics["history"][0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc"}
    assert set(meta.timings) == {"features_s", "training_s", "evaluating_s", "saving_s", "total_s"}
    assert meta.head["type"] in ("linear", "mlp") and meta.head["weights"] == "head.npz"


@pytest.mark.slow
def test_misclassified_lists_each_wrong_validation_sample(storage: Storage, worker: Worker) -> None:
    # Two classes drawn from the same distribution: about half the validation set is wrong.
    drawn = shapes(60, seed=14, classes=("circle",))["circle"]
    manifest = write_image_dataset(storage, {"left": drawn[::2], "right": drawn[1::2]})
    _, meta = _train(storage, worker, manifest)
    truth = {s.sha256: s.class_index for s in manifest.samples}
    predictions = meta.metrics["val_predictions"]
    wrong = [p for p in predictions if np.argmax(p["probabilities"]) != truth[p["sha256"]]]
    assert wrong, "the two classes are indistinguishable: some validation samples must be wrong"
    assert {m["sha256"] for m in meta.metrics["misclassified"]} == {p["sha256"] for p in wrong}
    for entry in meta.metrics["misclassified"]:
        assert entry["true"] != entry["predicted"] and entry["source"].endswith(".png")
        assert 0.5 <= entry["confidence"] <= 1.0


def _cached_feature_files(settings: Settings) -> list[tuple[Path, int]]:
    return sorted((p, p.stat().st_mtime_ns) for p in Path(settings.cache_dir, "features").rglob("*.npy"))


@pytest.mark.slow
def test_retraining_the_same_data_featurizes_nothing(
    storage: Storage, worker: Worker, settings: Settings
) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=15, classes=("square", "triangle")))
    _train(storage, worker, manifest)
    features = _cached_feature_files(settings)

    _, meta = _train(storage, worker, manifest)

    assert _cached_feature_files(settings) == features
    assert meta.version == "v2"


@pytest.mark.slow
def test_augmented_views_add_training_rows(storage: Storage, worker: Worker) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=16, classes=("circle", "square")))
    _, meta = _train(storage, worker, manifest, augment=True)
    assert meta.head["augment"] is True
    assert meta.metrics["sizes"]["train_augmented_views"] == 2 * len(manifest.split("train"))


def test_ngram_features_need_no_nltk_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An empty search path: any nltk resource lookup (punkt, stopwords...) would raise LookupError.
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    vocabulary = fit_ngrams(["The dogs were running home.", "A dog runs home!"], min_df=2)
    rows = vocabulary.transform(["running dogs", "cats"])
    assert "w:dog" in vocabulary.terms and "w:run" in vocabulary.terms  # stemmed words
    assert "c: do" in vocabulary.terms  # character n-grams at a word boundary
    assert np.linalg.norm(rows[0]) == pytest.approx(1.0) and not rows[1].any()


@pytest.mark.slow
def test_training_works_on_folder_and_s3_storage(any_storage: Storage, trainer_settings: Settings) -> None:
    manifest = write_image_dataset(any_storage, shapes(10, seed=17, classes=("circle", "triangle")))
    worker = Worker(any_storage, trainer_settings, trainer_id="test-trainer", export=False)
    _, meta = _train(any_storage, worker, manifest)
    assert current_version(any_storage, manifest.project_id) == meta.version
    model = load_model(any_storage, manifest.project_id, meta.version, trainer_settings.cache_dir)
    np.testing.assert_allclose(model.predict_proba(_val_inputs(any_storage, manifest, meta)),
                               [p["probabilities"] for p in meta.metrics["val_predictions"]], atol=1e-4)
