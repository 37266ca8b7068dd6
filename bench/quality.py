"""Quality on real data that ships inside installed packages, next to simple baselines.

Run: ``.venv/bin/python -m bench.quality`` (or as part of ``python -m bench``).

Data (nothing is downloaded):

- digits: the 1797 handwritten digits that ship with scikit-learn (``load_digits`` reads a
  file inside the package), 8x8 greyscale rendered as dark ink on white and upscaled to 64x64
  RGB PNGs. 10 classes; a fixed held-out set of 50 per class; models trained on the first 10
  or 100 of the remaining examples of each class (shuffled once, seed 0).
- python-docs: real English sentences from the Python standard library's own documentation
  strings (the first paragraph of each public module, class and function docstring), grouped
  by three clearly different topic areas: networking and e-mail, numbers and maths,
  concurrency. No PyPI package we could find ships a labelled English corpus for offline use
  (the usual ones, movie reviews or newsgroups, are downloaded at run time), and the standard
  library is always installed. These are technical sentences, and a module's name often
  appears in its own docstrings, so the task is easier than, say, sentiment.

Our model is what a user gets: the real trainer on a dataset snapshot written as preprocess
writes it (the trainer keeps its own validation split out of training: 20% of 10 per class,
30% of 100), then the promoted bundle loaded by serving and run on the held-out set. The
baselines are fitted on exactly the samples our trainer trained on, and scored on the same
held-out set: nearest centroid on the same backbone features; logistic regression on raw
pixels (digits) or on a bag of words (text).
"""

from __future__ import annotations

import inspect
import io
import logging
import random
import sys
import tempfile
import warnings
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["QualityTask", "digits_task", "python_docs_task", "evaluate", "run_quality"]

_logger = logging.getLogger(__name__)

DOC_TOPICS = {
    "networking": ["email", "email.message", "email.utils", "email.header", "email.mime.multipart",
                   "http.client", "http.server", "http.cookies", "http.cookiejar", "urllib.request",
                   "urllib.parse", "smtplib", "imaplib", "ftplib", "poplib", "socket", "ssl",
                   "socketserver", "xmlrpc.client", "mailbox", "ipaddress"],
    "numbers": ["math", "cmath", "statistics", "decimal", "_pydecimal", "fractions", "random",
                "numbers", "operator"],
    "concurrency": ["threading", "multiprocessing", "multiprocessing.pool", "multiprocessing.managers",
                    "multiprocessing.connection", "asyncio", "asyncio.tasks", "asyncio.locks",
                    "asyncio.queues", "asyncio.events", "concurrent.futures", "concurrent.futures.thread",
                    "concurrent.futures.process", "queue", "subprocess", "sched", "selectors", "signal"],
}


@dataclass
class QualityTask:
    """Training examples per class, a fixed held-out set, and the raw form the baselines see."""

    name: str
    kind: str  # "image" or "text"
    class_names: list[str]
    train: list[list[bytes]] | list[list[str]]  # per class, what the user would upload
    heldout: list[bytes] | list[str]
    heldout_labels: list[int]
    raw_train: list[np.ndarray] | None = None  # per class, 8x8 pixels (digits only)
    raw_heldout: np.ndarray | None = None


def _render_digit(pixels: np.ndarray) -> bytes:
    """8x8 ink values 0..16 as a 64x64 RGB PNG, dark ink on white like a pen drawing."""
    grey = (255 - pixels * (255 / 16)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(grey, "L").resize((64, 64), Image.Resampling.BILINEAR).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def digits_task(per_class: int, heldout_per_class: int = 50) -> QualityTask:
    """scikit-learn's handwritten digits: ``per_class`` training images per digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    train, raw_train, heldout, raw_heldout, labels = [], [], [], [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(digits.target == digit))
        held, pool = rows[:heldout_per_class], rows[heldout_per_class:]
        if len(pool) < per_class:
            raise ValueError(f"digit {digit} has {len(pool)} examples outside the held-out set, "
                             f"fewer than the {per_class} asked for")
        chosen = pool[:per_class]
        train.append([_render_digit(digits.images[i]) for i in chosen])
        raw_train.append(digits.data[chosen] / 16)
        heldout += [_render_digit(digits.images[i]) for i in held]
        raw_heldout.append(digits.data[held] / 16)
        labels += [digit] * len(held)
    return QualityTask(f"digits {10}x{per_class}", "image", [str(d) for d in range(10)], train,
                       heldout, labels, raw_train, np.concatenate(raw_heldout))


def _docstring_paragraphs(module_name: str) -> list[str]:
    """First paragraphs of the docstrings of a module and its public classes, methods, functions."""
    module = import_module(module_name)
    objects = [module]
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", module_name) != module_name:
            continue
        if inspect.isclass(obj):
            objects.append(obj)
            objects += [m for n, m in vars(obj).items() if not n.startswith("_") and callable(m)]
        elif callable(obj):
            objects.append(obj)
    paragraphs = []
    for obj in objects:
        doc = inspect.getdoc(obj)
        if doc:
            paragraphs.append(" ".join(doc.split("\n\n")[0].split()))
    return paragraphs


def python_docs_task(per_class: int = 100, heldout_per_class: int = 60) -> QualityTask:
    """Standard-library docstrings by topic area; sentences of 6+ words, each in one topic only."""
    by_topic = {topic: {p for m in modules for p in _docstring_paragraphs(m) if len(p.split()) >= 6}
                for topic, modules in DOC_TOPICS.items()}
    shared = {p for t in by_topic for u in by_topic if t < u for p in by_topic[t] & by_topic[u]}
    train, heldout, labels = [], [], []
    for index, (topic, paragraphs) in enumerate(by_topic.items()):
        texts = sorted(paragraphs - shared)
        random.Random(0).shuffle(texts)
        if len(texts) < per_class + heldout_per_class:
            raise ValueError(f"topic {topic!r} has {len(texts)} docstrings on this Python, fewer than "
                             f"{per_class} + {heldout_per_class}")
        heldout += texts[:heldout_per_class]
        labels += [index] * heldout_per_class
        train.append(texts[heldout_per_class:heldout_per_class + per_class])
    return QualityTask(f"python-docs 3x{per_class}", "text", list(DOC_TOPICS), train, heldout, labels)


def _scores(truth: list[int], predicted: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro"))}


def evaluate(task: QualityTask, cache_dir: str) -> list[dict]:
    """Train our model on ``task`` with the real trainer, score it and the baselines on the
    held-out set; one row per model."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # The dataset writer and training driver the inference tests use: the snapshot exactly as
    # preprocess writes it, the worker exactly as the daemon runs it.
    from teachbox.bundles import current_version
    from teachbox.datasets import sha256_hex
    from teachbox.featurizers import create_featurizer
    from teachbox.projects import create_project
    from teachbox.serving import load_model
    from teachbox.settings import load_settings
    from teachbox.storage import LocalStorage
    from tests.inference.conftest import train, write_dataset

    per_class = len(task.train[0])
    val_fraction = 0.3 if task.kind == "text" or per_class > 10 else 0.2
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=cache_dir)
        storage = LocalStorage(folder)
        project = create_project(storage, "bench", task.name, task.kind, task.class_names)
        manifest = write_dataset(storage, project, task.train, val_fraction)
        job = train(storage, settings, manifest)
        if job.state != "succeeded":
            raise RuntimeError(f"training {task.name} failed: {job.error}")
        model = load_model(storage, project.id, current_version(storage, project.id), cache_dir,
                           threads=settings.onnx_threads)
        # Which uploaded examples the trainer trained on (not its validation split).
        trained_on = {s.sha256 for s in manifest.samples if s.split == "train"}
    fit_rows = [(c, n) for c, items in enumerate(task.train) for n, item in enumerate(items)
                if sha256_hex(item.encode() if isinstance(item, str) else item) in trained_on]
    fit_inputs = [task.train[c][n] for c, n in fit_rows]
    fit_labels = [c for c, _ in fit_rows]

    featurizer = create_featurizer(model.meta.featurizer["name"], cache_dir, threads=settings.onnx_threads)
    heldout_features = featurizer.featurize(task.heldout)
    ngrams = model.ngrams.transform(task.heldout) if model.ngrams is not None else None
    ours = model.predict_proba_from_features(heldout_features, ngrams).argmax(axis=1)
    with warnings.catch_warnings():
        # Backbone features have dimensions that are 0 for every image of a class (ReLU); the
        # warning concerns only the shrinkage variant, which this plain centroid does not use.
        warnings.filterwarnings("ignore", message=".*zero standard deviation", category=UserWarning)
        centroid = NearestCentroid().fit(featurizer.featurize(fit_inputs), fit_labels)
    head = f"{model.meta.head['type']} on {'+'.join(model.inputs)}"
    rows = [
        {"task": task.name, "model": f"Teachbox ({head})", **_scores(task.heldout_labels, ours)},
        {"task": task.name, "model": f"nearest centroid on {featurizer.name} features",
         **_scores(task.heldout_labels, centroid.predict(heldout_features))},
    ]
    if task.kind == "image":
        raw = np.stack([task.raw_train[c][n] for c, n in fit_rows])
        logistic = LogisticRegression(max_iter=5000).fit(raw, fit_labels)
        rows.append({"task": task.name, "model": "logistic regression on raw 8x8 pixels",
                     **_scores(task.heldout_labels, logistic.predict(task.raw_heldout))})
    else:
        words = CountVectorizer()
        logistic = LogisticRegression(max_iter=5000).fit(words.fit_transform(fit_inputs), fit_labels)
        rows.append({"task": task.name, "model": "bag-of-words logistic regression",
                     **_scores(task.heldout_labels, logistic.predict(words.transform(task.heldout)))})
    for row in rows:
        row.update(train_examples=len(fit_inputs), heldout=len(task.heldout))
    return rows


def run_quality(
    cache_dir: str, digits_sizes: tuple[int, ...] = (10, 100), text_per_class: int = 100
) -> list[dict]:
    """Every quality task, our model and its baselines; one row per (task, model)."""
    tasks = [digits_task(n) for n in digits_sizes] + [python_docs_task(text_per_class)]
    return [row for task in tasks for row in evaluate(task, cache_dir)]


def main() -> None:
    cache_dir = str(Path(tempfile.gettempdir()) / "teachbox-bench-cache")
    print(f"{'task':<20} {'model':<48} {'train':>5} {'held-out':>8} {'accuracy':>8} {'macro-F1':>8}")
    for r in run_quality(cache_dir):
        print(f"{r['task']:<20} {r['model']:<48} {r['train_examples']:>5} {r['heldout']:>8} "
              f"{r['accuracy']:>8.3f} {r['macro_f1']:>8.3f}")


if __name__ == "__main__":
    main()
