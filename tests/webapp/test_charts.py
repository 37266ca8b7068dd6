"""The server-side chart geometry behind the confusion heat map and the learning curves."""

from __future__ import annotations

from webapp.projects.charts import confusion_heatmap, learning_curves


def test_heatmap_shades_each_cell_by_its_share_of_the_true_class():
    heatmap = confusion_heatmap([[9, 1], [5, 5]], ["cat", "dog"])
    by_count = {(c["title"]): c["opacity"] for c in heatmap["cells"]}
    assert by_count["true cat, predicted cat: 9"] > by_count["true dog, predicted dog: 5"]
    assert by_count["true dog, predicted cat: 5"] == by_count["true dog, predicted dog: 5"]
    assert [c["correct"] for c in heatmap["cells"]] == [True, False, False, True]


def test_heatmap_keeps_ten_classes_within_a_page_width():
    names = [f"class {i}" for i in range(10)]
    heatmap = confusion_heatmap([[1] * 10 for _ in range(10)], names)
    assert len(heatmap["cells"]) == 100 and heatmap["size"] <= 520


def test_learning_curves_draw_train_and_validation_lines_per_epoch():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + e / 10,
                "val_acc": 0.4 + e / 10} for e in (1, 2, 3)]
    loss, accuracy = learning_curves(history)
    assert [line["name"] for line in loss["lines"]] == ["train", "validation"]
    assert all(len(line["points"].split()) == 3 for line in loss["lines"] + accuracy["lines"])
    top_of_loss = min(float(p.split(",")[1]) for p in loss["lines"][1]["points"].split())
    assert top_of_loss >= loss["top"]


def test_no_history_draws_no_curves():
    assert learning_curves([]) == []
