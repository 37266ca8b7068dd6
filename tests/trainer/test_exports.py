"""Downloadable exports: ONNX and TorchScript graphs of backbone + head, and the class list."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch

from teachbox.bundles import bundle_key, load_bundle_file, load_model_meta
from teachbox.datasets import load_sample_bytes
from teachbox.featurizers import load_image_array
from teachbox.featurizers.text import load_tokenizer
from teachbox.jobs import get_job
from teachbox.serving import Head, load_model
from teachbox.settings import Settings
from teachbox.storage import Storage
from tests.trainer.conftest import shapes, submit, topic_texts, write_image_dataset, write_text_dataset
from trainer.exports import build_full_model
from trainer.worker import Worker

# Users load the TorchScript download with torch.jit.load, deprecated upstream but working.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


def _train_with_exports(storage: Storage, settings: Settings, manifest):
    job = submit(storage, manifest)
    Worker(storage, settings, export=True).work(burst=True)
    job = get_job(storage, job.job_id)
    assert job.state == "succeeded", job.error
    return load_model_meta(storage, manifest.project_id, job.model_version)


def _session(storage: Storage, meta) -> ort.InferenceSession:
    return ort.InferenceSession(load_bundle_file(storage, meta, "exports/model.onnx"),
                                providers=["CPUExecutionProvider"])


def _torchscript(storage: Storage, meta) -> torch.jit.ScriptModule:
    return torch.jit.load(io.BytesIO(load_bundle_file(storage, meta, "exports/model.torchscript.pt")),
                          map_location="cpu")


@pytest.mark.slow
def test_image_exports_match_the_torch_model_and_serving(
    storage: Storage, trainer_settings: Settings
) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=41))
    meta = _train_with_exports(storage, trainer_settings, manifest)
    images = [load_sample_bytes(storage, manifest, s) for s in manifest.split("val")]
    pixels = np.stack([load_image_array(data) for data in images])
    head = Head.from_npz(load_bundle_file(storage, meta, "head.npz"))
    with torch.inference_mode():
        expected = build_full_model("image", head)(torch.from_numpy(pixels)).numpy()

    (from_onnx,) = _session(storage, meta).run(["probabilities"], {"pixels": pixels})
    with torch.inference_mode():
        from_torchscript = _torchscript(storage, meta)(torch.from_numpy(pixels)).numpy()

    np.testing.assert_allclose(from_onnx, expected, atol=1e-4)
    np.testing.assert_allclose(from_torchscript, expected, atol=1e-4)
    served = load_model(storage, manifest.project_id, meta.version, trainer_settings.cache_dir)
    np.testing.assert_allclose(from_onnx, served.predict_proba(images), atol=1e-4)


@pytest.mark.slow
def test_text_exports_match_the_torch_model(storage: Storage, trainer_settings: Settings) -> None:
    manifest = write_text_dataset(storage, topic_texts(100, seed=42))
    meta = _train_with_exports(storage, trainer_settings, manifest)
    tokenizer = load_tokenizer()
    texts = [s.text for s in manifest.split("val")[:8]]
    encodings = tokenizer.encode_batch(texts)
    length = max(len(e.ids) for e in encodings)
    ids = np.array([e.ids + [0] * (length - len(e.ids)) for e in encodings], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    head = Head.from_npz(load_bundle_file(storage, meta, meta.head.get("export_weights", "head.npz")))
    with torch.inference_mode():
        expected = build_full_model("text", head)(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    (from_onnx,) = _session(storage, meta).run(["probabilities"], {"input_ids": ids, "attention_mask": mask})
    with torch.inference_mode():
        from_torchscript = _torchscript(storage, meta)(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    np.testing.assert_allclose(from_onnx, expected, atol=1e-4)
    np.testing.assert_allclose(from_torchscript, expected, atol=1e-4)
    assert storage.exists(bundle_key(manifest.project_id, meta.version, "exports/tokenizer.json"))


@pytest.mark.slow
def test_exports_carry_the_class_list_and_a_readme(storage: Storage, trainer_settings: Settings) -> None:
    manifest = write_image_dataset(storage, shapes(10, seed=43, classes=("square", "circle")))
    meta = _train_with_exports(storage, trainer_settings, manifest)
    assert load_bundle_file(storage, meta, "exports/classes.txt").decode() == "square\ncircle\n"
    readme = load_bundle_file(storage, meta, "exports/README.md").decode()
    assert "model.onnx" in readme and "(x / 255 - 0.5) / 0.5" in readme
