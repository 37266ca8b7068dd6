"""From an upload to a serving model: the real preprocess step feeding the real trainer."""

from __future__ import annotations

import random

import pytest

from lambda_preprocess import preprocess
from teachbox.jobs import get_job
from teachbox.serving import load_model
from teachbox.settings import Settings
from teachbox.storage import Storage, new_id
from teachbox.uploads import staging_prefix
from tests.trainer.conftest import draw_shape, topic_texts
from trainer.worker import Worker


def _stage(storage: Storage, upload_id: str, number: int, data: bytes) -> str:
    key = f"{staging_prefix(upload_id)}f{number:04d}.bin"
    storage.put(key, data)
    return key


def _payload(upload_id: str, kind: str, class_names: list[str], files: list[dict], **extra: object) -> dict:
    return {"upload_id": upload_id, "project_id": new_id(), "owner": "alice", "project_name": "Pipeline",
            "kind": kind, "class_names": class_names, "files": files, "options": {}, **extra}


@pytest.mark.slow
def test_uploaded_images_become_a_model_that_recognises_new_drawings(
    storage: Storage, worker: Worker, settings: Settings
) -> None:
    rng = random.Random(51)
    upload_id = new_id()
    files = [{"class_index": c, "filename": f"{shape}{n}.png",
              "key": _stage(storage, upload_id, c * 100 + n, draw_shape(shape, rng))}
             for c, shape in enumerate(("circle", "square")) for n in range(12)]
    queued = preprocess(_payload(upload_id, "image", ["circle", "square"], files), storage, settings)

    worker.work(burst=True)

    job = get_job(storage, queued["job_id"])
    assert job.state == "succeeded", job.error
    assert job.metrics["accuracy"] >= 0.8
    model = load_model(storage, queued["project_id"], job.model_version, settings.cache_dir)
    fresh = [draw_shape("circle", rng) for _ in range(5)] + [draw_shape("square", rng) for _ in range(5)]
    predicted = model.predict_proba(fresh).argmax(axis=1)
    assert (predicted == [0] * 5 + [1] * 5).mean() >= 0.8


@pytest.mark.slow
def test_pasted_texts_become_a_model_that_sorts_new_sentences(
    storage: Storage, worker: Worker, settings: Settings
) -> None:
    texts = topic_texts(110, seed=52)
    names = list(texts)
    held_out = {name: rows[100:] for name, rows in texts.items()}
    pasted = {str(c): "\n".join(texts[name][:100]) for c, name in enumerate(names)}
    queued = preprocess(_payload(new_id(), "text", names, [], pasted=pasted), storage, settings)

    worker.work(burst=True)

    job = get_job(storage, queued["job_id"])
    assert job.state == "succeeded", job.error
    assert job.metrics["accuracy"] >= 0.8
    model = load_model(storage, queued["project_id"], job.model_version, settings.cache_dir)
    sentences = [s for name in names for s in held_out[name]]
    expected = [c for c, name in enumerate(names) for _ in held_out[name]]
    assert (model.predict_proba(sentences).argmax(axis=1) == expected).mean() >= 0.8
