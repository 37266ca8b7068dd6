"""Answers from real trained models: the same numbers as training, top-k, one load per process."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from lambda_infer import handle, predict
from lambda_infer.cache import ModelCache
from lambda_infer.events import UNREADABLE_IMAGE
from teachbox.errors import BadRequest
from tests.inference.conftest import TrainedProject, png_bytes


def _payload(trained: TrainedProject, inputs: list, **extra: object) -> dict:
    items = [{"text": x} if isinstance(x, str) else {"image_b64": base64.b64encode(x).decode()}
             for x in inputs]
    return {"project_id": trained.project.id, "inputs": items, **extra}


def _val_check(trained: TrainedProject) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(expected labels, answered labels, expected probabilities, answered probabilities)."""
    meta = trained.storage.get_json(f"projects/{trained.project.id}/models/{trained.version}/model.json")
    stored = {row["sha256"]: row["probabilities"] for row in meta["metrics"]["val_predictions"]}
    val = trained.manifest.split("val")
    names = trained.manifest.class_names
    answered_rows, answered_labels = [], []
    for start in range(0, len(val), 32):
        batch = val[start:start + 32]
        result = handle(_payload(trained, [trained.sample_input(s) for s in batch], top_k=len(names)),
                        trained.storage, trained.settings)
        for prediction in result["predictions"]:
            by_label = {t["label"]: t["probability"] for t in prediction["top"]}
            answered_rows.append([by_label[name] for name in names])
            answered_labels.append(prediction["label"])
    expected = np.array([stored[s.sha256] for s in val])
    expected_labels = [names[i] for i in expected.argmax(axis=1)]
    return expected_labels, answered_labels, expected, np.array(answered_rows)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["trained_image", "trained_text"])
def test_serving_reproduces_the_trainers_validation_predictions(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    trained = request.getfixturevalue(fixture)

    expected_labels, answered_labels, expected, answered = _val_check(trained)

    assert len(answered_labels) == len(trained.manifest.split("val")) > 0
    assert answered_labels == expected_labels
    np.testing.assert_allclose(answered, expected, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_an_answer_has_top_k_labels_by_probability_with_the_version(trained_text: TrainedProject) -> None:
    result = handle(_payload(trained_text, ["What a wonderful party, I am so glad."], top_k=1),
                    trained_text.storage, trained_text.settings)

    assert result["ok"] is True
    assert (result["project_id"], result["version"], result["kind"]) == (
        trained_text.project.id, trained_text.version, "text")
    [prediction] = result["predictions"]
    assert prediction["label"] == "happy"
    assert prediction["top"] == [{"label": "happy", "probability": prediction["confidence"]}]
    assert 0.5 < prediction["confidence"] <= 1.0
    assert result["elapsed_ms"] > 0


@pytest.mark.slow
def test_top_k_beyond_the_class_count_lists_every_class_in_descending_order(
    trained_image: TrainedProject,
) -> None:
    result = handle(_payload(trained_image, [png_bytes("square", color="navy")], top_k=10),
                    trained_image.storage, trained_image.settings)

    top = result["predictions"][0]["top"]
    assert sorted(t["label"] for t in top) == ["circle", "square"]
    assert top[0]["probability"] >= top[1]["probability"]
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_a_batch_is_answered_in_input_order(trained_text: TrainedProject) -> None:
    texts = ["I adore this gift, it made my evening!", "What a gloomy funeral, I feel awful.",
             "Thank you for the lovely concert!"]

    result = handle(_payload(trained_text, texts), trained_text.storage, trained_text.settings)

    assert [p["label"] for p in result["predictions"]] == ["happy", "sad", "happy"]


@pytest.mark.slow
def test_an_image_that_breaks_off_midway_is_named(trained_image: TrainedProject) -> None:
    good = png_bytes()
    truncated = good[: len(good) // 2]  # a valid header, the pixels cut off

    with pytest.raises(BadRequest, match=re.escape(UNREADABLE_IMAGE.format(n=2))):
        handle(_payload(trained_image, [good, truncated]), trained_image.storage, trained_image.settings)


@pytest.mark.slow
def test_text_sent_to_an_image_project_is_refused(trained_image: TrainedProject) -> None:
    with pytest.raises(BadRequest, match="This project classifies images; send images"):
        handle(_payload(trained_image, ["a circle"]), trained_image.storage, trained_image.settings)


@pytest.mark.slow
def test_the_model_is_loaded_once_across_calls(trained_text: TrainedProject) -> None:
    cache = ModelCache(trained_text.settings.cache_dir, budget_bytes=1 << 30, refresh_seconds=60)

    for _ in range(3):
        predict(trained_text.project.id, ["Thank you for the gift!"], trained_text.storage,
                trained_text.settings, cache=cache)

    assert cache.loads == 1
