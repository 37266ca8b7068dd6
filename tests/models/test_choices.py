"""Model choice: each backbone is trained, stored in model.json and served as chosen."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from teachbox.bundles import current_version, list_versions, load_bundle_file
from teachbox.featurizers import create_featurizer
from teachbox.featurizers.catalog import backbone_choices, check_featurizer_name
from teachbox.jobs import get_job, request_cancel, submit_job
from teachbox.serving import LoadedModel, load_model
from teachbox.storage import Storage
from tests.trainer.conftest import shapes, submit, topic_texts, write_image_dataset, write_text_dataset
from tests.trainer.test_daemon import wait_until
from trainer.worker import Worker


def _served_matches_validation(
    storage: Storage, worker: Worker, project_id: str, version: str,
) -> tuple[LoadedModel, np.ndarray]:
    """The served model and the validation probabilities the trainer stored, to compare."""
    model = load_model(storage, project_id, version, worker.settings.cache_dir)
    stored = model.meta.metrics["val_predictions"]
    return model, np.array([row["probabilities"] for row in stored], dtype=np.float32)


def test_lite1_and_lite2_read_larger_images_than_lite0(cache_dir) -> None:
    image = shapes(1, seed=1, classes=("circle",))["circle"][0]
    sizes = {name: create_featurizer(name, cache_dir).describe()["input"]["image_size"]
             for name in ("lite0", "lite1", "lite2")}
    features = {name: create_featurizer(name, cache_dir).featurize([image])[0] for name in sizes}
    assert sizes == {"lite0": 224, "lite1": 240, "lite2": 260}
    assert all(f.shape == (1280,) for f in features.values())
    assert not np.allclose(features["lite0"], features["lite1"])
    assert not np.allclose(features["lite1"], features["lite2"])


def test_the_catalog_lists_choices_without_loading_onnxruntime_or_torch() -> None:
    code = ("import sys; from teachbox.featurizers.catalog import backbone_choices; "
            "print([n for n, _ in backbone_choices('image')]); "
            "print('onnxruntime' in sys.modules, 'torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.splitlines() == ["['lite0', 'lite1', 'lite2']", "False False"]


def test_every_builtin_choice_shows_its_measured_time_and_trade_off() -> None:
    for kind in ("image", "text"):
        for name, summary in backbone_choices(kind):
            assert "s to train" in summary and "measured 20" in summary, (name, summary)


def test_a_text_model_is_refused_for_an_image_project() -> None:
    with pytest.raises(ValueError, match="Model 'minilm' is for text projects; choose one of: lite0, lite1"):
        check_featurizer_name("minilm", "image")


def test_an_unknown_model_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="Unknown model 'resnet9000'; choose one of: minilm, minilm-tuned"):
        check_featurizer_name("resnet9000", "text")


def test_a_project_trained_on_lite2_records_it_and_serves_with_it(
    storage: Storage, worker: Worker,
) -> None:
    manifest = write_image_dataset(storage, shapes(8, seed=3))
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image", featurizer="lite2")
    worker.work(burst=True)
    assert get_job(storage, job.job_id).state == "succeeded"
    version = current_version(storage, manifest.project_id)
    model, stored = _served_matches_validation(storage, worker, manifest.project_id, version)
    assert model.meta.featurizer["name"] == "lite2"
    assert model.meta.featurizer["input"]["image_size"] == 260
    assert model.featurizer.name == "lite2"
    val = manifest.split("val")
    images = [storage.get(f"projects/{manifest.project_id}/datasets/{manifest.dataset_id}/samples/"
                          f"{s.class_index}/{s.sha256}.png") for s in val]
    np.testing.assert_allclose(model.predict_proba(images), stored, atol=1e-5)


def test_a_comparison_job_publishes_without_replacing_the_serving_model(
    storage: Storage, worker: Worker,
) -> None:
    manifest = write_image_dataset(storage, shapes(6, seed=4, classes=("circle", "square")))
    submit(storage, manifest)
    worker.work(burst=True)
    serving = current_version(storage, manifest.project_id)
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image", featurizer="lite1",
                     options={"promote": False})
    worker.work(burst=True)
    done = get_job(storage, job.job_id)
    assert done.state == "succeeded" and done.metrics["promoted"] is False
    assert current_version(storage, manifest.project_id) == serving
    assert [m.featurizer["name"] for m in list_versions(storage, manifest.project_id)] == ["lite0", "lite1"]


def test_a_job_naming_a_text_model_for_images_fails_at_once_saying_so(
    storage: Storage, worker: Worker,
) -> None:
    manifest = write_image_dataset(storage, shapes(4, seed=5, classes=("circle", "square")))
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image", featurizer="minilm")
    worker.work(burst=True)
    failed = get_job(storage, job.job_id)
    assert failed.state == "failed"
    assert "The model 'minilm' reads texts, but this is an image project" in failed.error


@pytest.mark.slow
def test_a_fine_tuned_text_model_carries_its_encoder_and_serves_it_without_torch(
    storage: Storage, worker: Worker,
) -> None:
    manifest = write_text_dataset(storage, topic_texts(12, seed=6))
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "text", featurizer="minilm-tuned")
    worker.work(burst=True)
    assert get_job(storage, job.job_id).state == "succeeded"
    version = current_version(storage, manifest.project_id)
    model, stored = _served_matches_validation(storage, worker, manifest.project_id, version)
    assert model.meta.featurizer["name"] == "minilm-tuned"
    assert model.meta.featurizer["graph"] == "encoder.onnx"
    assert len(load_bundle_file(storage, model.meta, "encoder.onnx")) > 1_000_000
    texts = [s.text for s in manifest.split("val")]
    frozen = create_featurizer("minilm", worker.settings.cache_dir).featurize(texts)
    assert not np.allclose(model.featurizer.featurize(texts), frozen, atol=1e-3)
    # Serving in a fresh process: the bundle's graph, the stored probabilities, no torch.
    code = (
        "import sys, json, numpy as np; from teachbox.storage import LocalStorage; "
        "from teachbox.serving import LoadedModel, load_model; "
        f"m = load_model(LocalStorage({str(storage.root)!r}), {manifest.project_id!r}, {version!r}, "
        f"{str(worker.settings.cache_dir)!r}); "
        f"p = m.predict_proba({texts!r}); "
        "print(json.dumps(p.tolist())); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    probabilities, torch_loaded = out.strip().splitlines()[-2:]
    np.testing.assert_allclose(np.array(json.loads(probabilities)), stored, atol=1e-5)
    assert torch_loaded == "False"


def test_cancelling_during_fine_tuning_leaves_the_previous_model_serving(
    storage: Storage, worker: Worker,
) -> None:
    manifest = write_text_dataset(storage, topic_texts(40, seed=7))
    submit(storage, manifest)
    worker.work(burst=True)
    serving = current_version(storage, manifest.project_id)
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "text", featurizer="minilm-tuned")
    training = threading.Thread(target=worker.work, kwargs={"burst": True})
    training.start()
    try:
        wait_until(lambda: get_job(storage, job.job_id).progress.get("phase") == "tuning"
                   and get_job(storage, job.job_id).progress.get("eta_seconds") is not None,
                   120, "the trainer to report fine-tuning steps with time left")
        request_cancel(storage, job.job_id)
    finally:
        training.join(timeout=300)
    assert get_job(storage, job.job_id).state == "cancelled"
    assert current_version(storage, manifest.project_id) == serving
    assert len(list_versions(storage, manifest.project_id)) == 1


def test_a_job_naming_an_uninstalled_model_fails_at_once_saying_so(storage: Storage, worker: Worker) -> None:
    manifest = write_image_dataset(storage, shapes(4, seed=8, classes=("circle", "square")))
    job = submit_job(storage, manifest.project_id, manifest.dataset_id, "image",
                     featurizer="no-such-backbone")
    worker.work(burst=True)
    failed = get_job(storage, job.job_id)
    assert (failed.state, failed.failures) == ("failed", 1)
    assert failed.error.startswith("The model 'no-such-backbone' chosen for this training is not available "
                                   "on this trainer")
