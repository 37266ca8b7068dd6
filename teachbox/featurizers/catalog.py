"""What backbones exist, without loading any: names, kinds, input sizes and measured costs.

Light on purpose (standard library only): preprocess validates a project's model choice and
the Train page lists the options without importing onnxruntime or torch. The heavy side,
``teachbox.featurizers.registry``, builds the featurizers these entries name.

Third-party backbones are installed packages declaring an entry point in the
``teachbox.featurizers`` group (see docs/models.md); their kind is only known once built, so
the trainer checks it against the dataset when the job runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

__all__ = [
    "BUILTIN",
    "DEFAULTS",
    "ENTRY_POINT_GROUP",
    "Backbone",
    "Measurement",
    "backbone_choices",
    "check_featurizer_name",
    "installed_plugins",
]

_logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "teachbox.featurizers"


@dataclass(frozen=True)
class Measurement:
    """One row of ``bench/bench_training.py`` on this project's reference machine."""

    claim_to_promoted_s: float  # a first training (nothing cached) of the bench's dataset
    bare_pass_s: float  # one plain pass of the (frozen) backbone over the same inputs
    accuracy: float  # on the task's fixed held-out set, through serving
    dataset: str
    measured: str  # ISO date


@dataclass(frozen=True)
class Backbone:
    name: str
    kind: str  # "image" or "text"
    label: str  # the word on the Train form: Fast, Balanced, ...
    trade_off: str  # one sentence a person can choose by
    image_size: int = 0  # images: square input side in pixels
    measurement: Measurement | None = None

    def summary(self) -> str:
        """The Train form's line for this option: label, measured time, trade-off."""
        text = self.label
        if self.measurement is not None:
            m = self.measurement
            text += (f" (about {m.claim_to_promoted_s:.0f} s to train {m.dataset}, "
                     f"{m.accuracy:.0%} right on held-out ones, measured {m.measured})")
        return f"{text}: {self.trade_off}"


# Measured with bench/bench_training.py (its model-choice cases) on the 2-core reference machine,
# shared with other work while it ran: the faster of two runs, held-out accuracy through serving.
# Update with the date when the bench is run again (docs/models.md says how).
_DIGITS = "100 handwritten digits"
_DOCS = "90 docstrings"
_MEASURED = {
    "lite0": Measurement(1.1, 1.0, 0.726, _DIGITS, "2026-11-26"),
    "lite1": Measurement(1.5, 2.0, 0.670, _DIGITS, "2026-11-26"),
    "lite2": Measurement(2.0, 1.8, 0.688, _DIGITS, "2026-11-26"),
    "minilm": Measurement(2.1, 0.6, 0.828, _DOCS, "2026-11-26"),
    "minilm-tuned": Measurement(40.2, 0.5, 0.878, _DOCS, "2026-11-26"),
}

BUILTIN: dict[str, Backbone] = {b.name: b for b in (
    Backbone("lite0", "image", "Fast", "EfficientNet-Lite0 at 224 px; the quickest to train and to answer.",
             224, _MEASURED["lite0"]),
    Backbone("lite1", "image", "Balanced", "EfficientNet-Lite1 at 240 px; about 1.7x the time per image, "
             "1 to 3 points better on photos, no better on small drawings.", 240, _MEASURED["lite1"]),
    Backbone("lite2", "image", "Accurate", "EfficientNet-Lite2 at 260 px; about 2.4x the time per image, "
             "the best of the three on photos, no better on small drawings.", 260, _MEASURED["lite2"]),
    Backbone("minilm", "text", "Frozen", "MiniLM sentence embeddings as they come; trains in seconds.",
             0, _MEASURED["minilm"]),
    Backbone("minilm-tuned", "text", "Fine-tuned", "MiniLM first tuned on your own sentences; gained "
             "5 points here, but training takes about 20x longer.", 0, _MEASURED["minilm-tuned"]),
)}

DEFAULTS = {"image": "lite0", "text": "minilm"}


def installed_plugins() -> list[str]:
    """Names of third-party featurizers declared by installed packages (none is imported)."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} - BUILTIN.keys())


def backbone_choices(kind: str) -> list[tuple[str, str]]:
    """``(name, summary)`` for every option a ``kind`` project may choose, the default first."""
    builtin = sorted((b for b in BUILTIN.values() if b.kind == kind),
                     key=lambda b: (b.name != DEFAULTS[kind], b.name))
    choices = [(b.name, b.summary()) for b in builtin]
    choices += [(name, f"{name}: an installed plugin backbone (not measured here).")
                for name in installed_plugins()]
    return choices


def check_featurizer_name(name: str, kind: str) -> str:
    """``name``, or the kind's default when empty; ValueError with a sentence when it cannot be
    used for a ``kind`` project."""
    name = (name or "").strip() or DEFAULTS[kind]
    backbone = BUILTIN.get(name)
    if backbone is not None:
        if backbone.kind != kind:
            raise ValueError(f"Model {name!r} is for {backbone.kind} projects; "
                             f"choose one of: {', '.join(n for n, _ in backbone_choices(kind))}.")
        return name
    if name in installed_plugins():
        return name
    raise ValueError(f"Unknown model {name!r}; choose one of: "
                     f"{', '.join(n for n, _ in backbone_choices(kind))}.")
