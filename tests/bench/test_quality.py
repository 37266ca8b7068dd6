"""Quality bench: the packaged data sets are built as described, and evaluation scores our
trained model and its baselines on the held-out set (tiny tasks, real trainer)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bench.quality import DOC_TOPICS, QualityTask, digits_task, evaluate, python_docs_task


def test_digits_are_ten_classes_with_the_asked_training_size_and_fifty_held_out_each() -> None:
    task = digits_task(10)
    assert [len(images) for images in task.train] == [10] * 10
    assert [task.heldout_labels.count(digit) for digit in range(10)] == [50] * 10
    assert len(task.heldout) == len(task.raw_heldout) == 500


def test_digits_render_as_dark_ink_on_white_64px_rgb_pngs() -> None:
    image = Image.open(io.BytesIO(digits_task(10).train[0][0]))
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (64, 64))
    assert image.getpixel((0, 0)) == (255, 255, 255)  # digits leave their border blank
    assert image.convert("L").getextrema()[0] < 64  # and the ink is dark


def test_digits_held_out_set_is_the_same_whatever_the_training_size() -> None:
    assert digits_task(10).heldout == digits_task(100).heldout


def test_asking_for_more_digits_than_the_package_has_says_how_many_there_are() -> None:
    with pytest.raises(ValueError, match=r"digit 0 has \d+ examples outside the held-out set, fewer than "
                                         r"the 500 asked for"):
        digits_task(500)


def test_python_docs_are_three_topics_with_no_sentence_in_two_of_them() -> None:
    task = python_docs_task(100, heldout_per_class=60)
    assert task.class_names == list(DOC_TOPICS)
    assert [len(texts) for texts in task.train] == [100, 100, 100]
    every = [text for texts in task.train for text in texts] + task.heldout
    assert len(every) == len(set(every)) == 480
    assert all(len(text.split()) >= 6 for text in every)


def _two_digit_task() -> QualityTask:
    """Zeros and ones only: our model and both baselines must tell them apart."""
    full = digits_task(10)
    keep = [n for n, label in enumerate(full.heldout_labels) if label in (0, 1)]
    return QualityTask("digits 0/1", "image", ["0", "1"], full.train[:2],
                       [full.heldout[n] for n in keep], [full.heldout_labels[n] for n in keep],
                       full.raw_train[:2], full.raw_heldout[keep])


def test_evaluate_scores_our_model_and_the_image_baselines_on_the_held_out_set(cache_dir: Path) -> None:
    rows = evaluate(_two_digit_task(), str(cache_dir))
    assert [row["model"].split(" (")[0] for row in rows] == [
        "Teachbox", "nearest centroid on lite0 features", "logistic regression on raw 8x8 pixels"]
    for row in rows:
        assert row["heldout"] == 100
        assert row["train_examples"] == 16  # 10 per class less the trainer's 20% validation split
        assert row["accuracy"] >= 0.9, row


def test_evaluate_scores_our_model_and_the_text_baselines_on_the_held_out_set(cache_dir: Path) -> None:
    rows = evaluate(python_docs_task(100, heldout_per_class=20), str(cache_dir))
    assert [row["model"].split(" (")[0] for row in rows] == [
        "Teachbox", "nearest centroid on minilm features", "bag-of-words logistic regression"]
    for row in rows:
        assert (row["heldout"], row["train_examples"]) == (60, 210)
        assert 1 / 3 < row["accuracy"] <= 1 and 0 < row["macro_f1"] <= 1, row
