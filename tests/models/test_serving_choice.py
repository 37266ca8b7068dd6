"""Serving and downloads follow each version's own backbone."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from lambda_infer.cache import ModelCache
from teachbox.bundles import current_version, load_bundle_file, load_model_meta
from teachbox.datasets import load_sample_bytes
from teachbox.featurizers import load_image_array
from teachbox.jobs import get_job, submit_job
from teachbox.projects import create_project
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import Storage
from tests.trainer.conftest import shapes, write_image_dataset
from trainer.worker import Worker


def _train(storage: Storage, settings: Settings, manifest, featurizer: str, export: bool = False) -> str:
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image", featurizer=featurizer)
    Worker(storage, settings, export=export).work(burst=True)
    done = get_job(storage, job.job_id)
    assert done.state == "succeeded", done.error
    return done.model_version


@pytest.mark.slow
def test_the_download_of_a_lite1_model_reads_240_px_and_answers_as_serving_does(
    storage: Storage, trainer_settings: Settings,
) -> None:
    manifest = write_image_dataset(storage, shapes(6, seed=31))
    version = _train(storage, trainer_settings, manifest, "lite1", export=True)
    meta = load_model_meta(storage, manifest.project_id, version)
    session = ort.InferenceSession(load_bundle_file(storage, meta, "exports/model.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, 240, 240]
    images = [load_sample_bytes(storage, manifest, s) for s in manifest.split("val")]
    pixels = np.stack([load_image_array(image, 240) for image in images])
    (downloaded,) = session.run(["probabilities"], {"pixels": pixels})
    model = load_model(storage, manifest.project_id, version, trainer_settings.cache_dir)
    np.testing.assert_allclose(downloaded, model.predict_proba(images), atol=1e-4)
    assert "240" in load_bundle_file(storage, meta, "exports/README.md").decode()


def test_one_inference_cache_serves_projects_on_different_backbones(
    storage: Storage, trainer_settings: Settings,
) -> None:
    cache = ModelCache(trainer_settings.cache_dir, budget_bytes=50_000_000)
    for featurizer, seed in (("lite0", 32), ("lite2", 33)):
        manifest = write_image_dataset(storage, shapes(6, seed=seed, classes=("circle", "square")))
        create_project(storage, "alice", f"on {featurizer}", "image", manifest.class_names,
                       featurizer=featurizer, project_id=manifest.project_id)
        _train(storage, trainer_settings, manifest, featurizer)
        model = cache.get(storage, manifest.project_id)
        stored = [row["probabilities"] for row in model.meta.metrics["val_predictions"]]
        images = [load_sample_bytes(storage, manifest, s) for s in manifest.split("val")]
        assert model.meta.version == current_version(storage, manifest.project_id)
        assert model.featurizer.name == featurizer
        np.testing.assert_allclose(model.predict_proba(images), stored, atol=1e-5)
