"""Run a trained model from its bundle: features -> standardization -> head, in numpy.

The serving path (inference handler, its container) needs numpy, onnxruntime, Pillow,
tokenizers and nltk, never torch. The trainer computes its validation predictions through
:class:`Head` and :meth:`LoadedModel.predict_proba_from_features` too, so inference
reproduces the stored validation labels exactly and probabilities to float32 rounding.

Bundle files read here (names recorded in ``model.json`` ``head``):

    head.npz      ``mean``, ``scale`` (standardization) and ``w0, b0[, w1, b1]`` (layers)
    ngrams.json   the n-gram vocabulary, when ``"ngrams"`` is among ``head["inputs"]``
    encoder.onnx  the bundle's own encoder, when ``model.json`` ``featurizer["graph"]`` names it
                  (``minilm-tuned``: MiniLM fine-tuned on this project); copied once into
                  ``<cache_dir>/bundles/`` and run by onnxruntime like the shared graphs
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teachbox.bundles import ModelMeta, load_bundle_file, load_model_meta
from teachbox.featurizers import Featurizer, create_featurizer
from teachbox.ngrams import NgramVocabulary
from teachbox.storage import Storage

__all__ = [
    "INPUT_EMBEDDING",
    "INPUT_NGRAMS",
    "TUNED_GRAPH",
    "TUNED_TEXT",
    "Head",
    "LoadedModel",
    "head_input",
    "load_model",
    "softmax",
]

_logger = logging.getLogger(__name__)

INPUT_EMBEDDING = "embedding"
INPUT_NGRAMS = "ngrams"
# The fine-tuned text featurizer: its encoder is per project, so it lives in the bundle.
TUNED_TEXT = "minilm-tuned"
TUNED_GRAPH = "encoder.onnx"
_graph_lock = threading.Lock()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits (the row maximum is subtracted first)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class Head:
    """Standardization then dense layers (ReLU between them): a linear head has one layer,
    a 1-hidden-layer MLP two. Weights are float32, ``w`` shaped ``[out, in]`` as in torch."""

    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def type(self) -> str:
        return "linear" if len(self.weights) == 1 else "mlp"

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w.T + b
            if index < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return x

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, n_classes]`` for raw (unstandardized) feature rows."""
        return softmax(self.logits(features))

    def to_npz(self) -> bytes:
        arrays = {"mean": self.mean, "scale": self.scale}
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{index}"] = w
            arrays[f"b{index}"] = b
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> Head:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            layers = sum(1 for name in arrays.files if name.startswith("w"))
            return cls(
                mean=arrays["mean"].astype(np.float32),
                scale=arrays["scale"].astype(np.float32),
                weights=[arrays[f"w{i}"].astype(np.float32) for i in range(layers)],
                biases=[arrays[f"b{i}"].astype(np.float32) for i in range(layers)],
            )


class LoadedModel:
    """A model version ready to predict: its featurizer, n-gram vocabulary and head."""

    def __init__(
        self,
        meta: ModelMeta,
        head: Head,
        featurizer: Featurizer | None,
        ngrams: NgramVocabulary | None = None,
    ) -> None:
        self.meta = meta
        self.head = head
        self.featurizer = featurizer
        self.ngrams = ngrams
        self.inputs: list[str] = list(meta.head.get("inputs", [INPUT_EMBEDDING]))

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    def predict_proba(self, inputs: Sequence[bytes] | Sequence[str]) -> np.ndarray:
        """Probabilities ``[len(inputs), n_classes]`` (rows sum to 1), classes in
        ``meta.class_names`` order. Image inputs are bytes, text inputs str.

        Raises ``ValueError`` naming the input (by index) that cannot be read.
        """
        if len(inputs) == 0:
            return np.zeros((0, len(self.meta.class_names)), dtype=np.float32)
        embedding = None
        if INPUT_EMBEDDING in self.inputs:
            embedding = self.featurizer.featurize(inputs)
        ngram_rows = self.ngrams.transform(inputs) if INPUT_NGRAMS in self.inputs else None
        return self.predict_proba_from_features(embedding, ngram_rows)

    def predict_proba_from_features(
        self, embedding: np.ndarray | None, ngrams: np.ndarray | None = None
    ) -> np.ndarray:
        """The head on already computed features (the trainer's validation path)."""
        return self.head.predict_proba(head_input(self.inputs, embedding, ngrams))


def head_input(inputs: Sequence[str], embedding: np.ndarray | None, ngrams: np.ndarray | None) -> np.ndarray:
    """The head's input rows: the named feature blocks side by side, in ``inputs`` order."""
    blocks = {INPUT_EMBEDDING: embedding, INPUT_NGRAMS: ngrams}
    missing = [name for name in inputs if blocks.get(name) is None]
    if missing:
        raise ValueError(f"the head needs feature block(s) {missing} that were not computed")
    return np.concatenate([np.asarray(blocks[name], dtype=np.float32) for name in inputs], axis=1)


def load_model(
    storage: Storage, project_id: str, version: str, cache_dir: str | Path, threads: int = 1
) -> LoadedModel:
    """Load model ``version`` of ``project_id`` from its bundle.

    Raises:
        NotFound: no such (complete) version.
    """
    meta = load_model_meta(storage, project_id, version)
    head = Head.from_npz(load_bundle_file(storage, meta, meta.head.get("weights", "head.npz")))
    inputs = meta.head.get("inputs", [INPUT_EMBEDDING])
    ngrams = None
    if INPUT_NGRAMS in inputs:
        ngrams = NgramVocabulary.from_dict(
            json.loads(load_bundle_file(storage, meta, meta.head.get("ngrams", "ngrams.json")))
        )
    featurizer = None
    if INPUT_EMBEDDING in inputs and meta.featurizer.get("graph"):
        from teachbox.featurizers.text import text_featurizer_from_graph

        path = _bundle_graph(storage, meta, Path(cache_dir))
        featurizer = text_featurizer_from_graph(path, meta.featurizer["name"],
                                                str(meta.featurizer.get("version")), threads)
    elif INPUT_EMBEDDING in inputs:
        featurizer = create_featurizer(meta.featurizer["name"], cache_dir, threads=threads)
        if featurizer.version != str(meta.featurizer.get("version")):
            _logger.warning(
                "model %s/%s was trained with featurizer %s v%s; running v%s",
                project_id, version, featurizer.name, meta.featurizer.get("version"),
                featurizer.version,
            )
    _logger.info("loaded model %s/%s (%s head on %s)", project_id, version, head.type, inputs)
    return LoadedModel(meta, head, featurizer, ngrams)


def _bundle_graph(storage: Storage, meta: ModelMeta, cache_dir: Path) -> Path:
    """The bundle's own encoder graph as a local file (onnxruntime opens paths), fetched once.

    Bundles are immutable, so the copy under ``bundles/<storage>/<project>/<version>/`` never
    goes stale; it is written to a temporary name and renamed, so a crash leaves no half file.
    """
    name = meta.featurizer["graph"]
    if "/" in name or name.startswith("."):
        raise ValueError(f"model {meta.version} names an encoder graph outside its bundle: {name!r}")
    where = hashlib.sha256(storage.url.encode()).hexdigest()[:12]
    path = cache_dir / "bundles" / where / meta.project_id / meta.version / name
    with _graph_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(load_bundle_file(storage, meta, name))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    return path
