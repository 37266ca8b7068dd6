"""``minilm-tuned``: fine-tune the packaged MiniLM encoder on a project's training split.

SetFit-style: pairs of training sentences, labelled 1 when both are of the same class and 0
otherwise, pull the encoder's cosine similarity towards that label (one epoch, a few hundred
pairs, CPU). Only the training split is used, so validation numbers stay honest. The tuned
encoder is exported to ONNX with the same inputs and output as the shared ``minilm`` graph and
stored in the model bundle, so serving runs it in onnxruntime and never imports torch.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from teachbox.datasets import DatasetManifest
from teachbox.featurizers.export import export_text_encoder, minilm_encoder
from teachbox.featurizers.text import TextFeaturizer, load_tokenizer, text_featurizer_from_graph
from teachbox.serving import TUNED_GRAPH, TUNED_TEXT
from teachbox.settings import Settings

__all__ = ["TUNED_VERSION", "TuneConfig", "contrastive_pairs", "tune_encoder", "tune_text_featurizer"]

_logger = logging.getLogger(__name__)

# Part of model.json: bump when the recipe below changes what a tuned encoder is.
TUNED_VERSION = "1"


class Beat(Protocol):
    """What the fine-tune needs of the job heartbeat: progress, and a safe point to stop at."""

    def update(self, phase: str, fraction: float = 0.0) -> None: ...

    def checkpoint(self) -> None: ...


@dataclass(frozen=True)
class TuneConfig:
    max_pairs: int = 320  # SetFit reaches most of its gain within a few hundred pairs
    batch_size: int = 16
    lr: float = 2e-5
    max_tokens: int = 128  # training only: short project sentences; serving keeps 256
    seed: int = 0


def contrastive_pairs(labels: list[int], max_pairs: int, seed: int = 0) -> list[tuple[int, int, float]]:
    """``(i, j, target)`` index pairs: per sentence one of its class (1.0) and one of another
    class (0.0), round after round, shuffled and cut at ``max_pairs``. Deterministic."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    pairs: list[tuple[int, int, float]] = []
    for _ in range(max(1, max_pairs // max(2 * len(labels), 1) + 1)):
        for i, label in enumerate(labels):
            same = [j for j in by_class[label] if j != i]
            other = [j for j in range(len(labels)) if labels[j] != label]
            if same:
                pairs.append((i, rng.choice(same), 1.0))
            if other:
                pairs.append((i, rng.choice(other), 0.0))
    rng.shuffle(pairs)
    return pairs[:max_pairs]


def _batch(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    encodings = tokenizer.encode_batch(texts, add_special_tokens=True)
    length = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), length), dtype=np.int64)
    mask = np.zeros((len(texts), length), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def tune_encoder(
    texts: list[str], labels: list[int], beat: Beat, config: TuneConfig = TuneConfig(),
) -> torch.nn.Module:
    """The MiniLM encoder after one epoch of contrastive pairs; ``beat`` gets progress and a
    checkpoint after every step (cancel or shutdown stop it there)."""
    torch.manual_seed(config.seed)
    encoder = minilm_encoder()
    for parameter in encoder.parameters():
        parameter.requires_grad_(True)
    encoder.train()
    tokenizer = load_tokenizer()
    tokenizer.enable_truncation(max_length=config.max_tokens)
    pairs = contrastive_pairs(labels, config.max_pairs, config.seed)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr)
    steps = max(1, -(-len(pairs) // config.batch_size))
    started = time.monotonic()
    for step in range(steps):
        chunk = pairs[step * config.batch_size : (step + 1) * config.batch_size]
        left = encoder(*_batch(tokenizer, [texts[i] for i, _, _ in chunk]))
        right = encoder(*_batch(tokenizer, [texts[j] for _, j, _ in chunk]))
        target = torch.tensor([t for _, _, t in chunk], dtype=torch.float32)
        # Embeddings are unit length, so the dot product is the cosine similarity.
        loss = torch.nn.functional.mse_loss((left * right).sum(dim=1), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        beat.update("tuning", 0.9 * (step + 1) / steps)  # the export is the last tenth
        beat.checkpoint()
    _logger.info("fine-tuned MiniLM on %d pairs in %d steps, %.1f s", len(pairs), steps,
                 time.monotonic() - started)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder.eval()


def tune_text_featurizer(
    manifest: DatasetManifest, settings: Settings, beat: Beat, scratch: Path,
    config: TuneConfig = TuneConfig(),
) -> tuple[TextFeaturizer, dict[str, bytes]]:
    """Tune on ``manifest``'s training split, export the encoder into ``scratch``; returns the
    featurizer running that graph and the bundle files to store (``encoder.onnx``)."""
    train = manifest.split("train")
    encoder = tune_encoder([s.text for s in train], [s.class_index for s in train], beat, config)
    path = export_text_encoder(encoder, scratch / TUNED_GRAPH)
    beat.update("tuning", 1.0)
    beat.checkpoint()
    featurizer = text_featurizer_from_graph(path, TUNED_TEXT, TUNED_VERSION, settings.onnx_threads)
    return featurizer, {TUNED_GRAPH: path.read_bytes()}
