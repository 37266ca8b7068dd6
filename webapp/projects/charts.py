"""Geometry for the charts drawn as inline SVG by the templates (no chart library, no JS).

Functions return plain numbers and strings; the templates write the SVG elements, so every
label goes through Jinja's escaping.
"""

from __future__ import annotations

__all__ = ["confusion_heatmap", "learning_curves"]

_LABEL = 96


def confusion_heatmap(confusion: list[list[int]], class_names: list[str]) -> dict:
    """Cells of the confusion matrix (rows true, columns predicted), shaded by the share of
    their row, so a small class's mistakes show as clearly as a large one's."""
    n = len(class_names)
    # Two classes get large cells, ten get small ones: the matrix stays about 320 px wide.
    cell = max(40, min(90, 320 // max(n, 1)))
    cells = []
    for row, counts in enumerate(confusion):
        total = sum(counts) or 1
        for col, count in enumerate(counts):
            share = count / total
            cells.append({
                "x": _LABEL + col * cell,
                "y": _LABEL + row * cell,
                "count": count,
                "opacity": round(0.08 + 0.92 * share, 3) if count else 0.03,
                "correct": row == col,
                "dark": share > 0.55,
                "title": f"true {class_names[row]}, predicted {class_names[col]}: {count}",
            })
    return {
        "size": _LABEL + n * cell + 4,
        "cell": cell,
        "label_offset": _LABEL,
        "cells": cells,
        "labels": [{"name": name, "pos": _LABEL + i * cell + cell / 2}
                   for i, name in enumerate(class_names)],
    }


def _polyline(values: list[float], x_of, y_of) -> str:
    return " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values) if v is not None)


def learning_curves(history: list[dict], width: int = 420, height: int = 220) -> list[dict]:
    """Two charts, loss and accuracy per epoch, each with a train and a validation line."""
    if not history:
        return []
    left, right, top, bottom = 44, 10, 12, 28
    epochs = len(history)

    def x_of(i: int) -> float:
        return left + (width - left - right) * (i / max(epochs - 1, 1))

    charts = []
    for title, keys, fixed_top in (("Loss", ("train_loss", "val_loss"), None),
                                   ("Accuracy", ("train_acc", "val_acc"), 1.0)):
        series = {key: [row.get(key) for row in history] for key in keys}
        values = [v for vals in series.values() for v in vals if v is not None]
        if not values:
            continue
        high = fixed_top if fixed_top is not None else max(values) * 1.05 or 1.0
        low = 0.0

        def y_of(v: float, high=high, low=low) -> float:
            return top + (height - top - bottom) * (1 - (v - low) / ((high - low) or 1))

        charts.append({
            "title": title,
            "width": width,
            "height": height,
            "left": left,
            "bottom": height - bottom,
            "right": width - right,
            "top": top,
            "lines": [
                {"name": "train" if key.startswith("train") else "validation",
                 "css": "train" if key.startswith("train") else "val",
                 "points": _polyline(vals, x_of, y_of),
                 "last": next((v for v in reversed(vals) if v is not None), None)}
                for key, vals in series.items()
            ],
            "y_ticks": [{"y": y_of(low + (high - low) * f), "label": f"{low + (high - low) * f:.2f}"}
                        for f in (0, 0.5, 1)],
            "x_ticks": [{"x": x_of(i), "label": str(i + 1)}
                        for i in sorted({0, epochs // 2, epochs - 1})],
        })
    return charts
