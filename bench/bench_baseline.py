"""The original design's training recipe, timed on the images of a bench_training case.

Run: ``.venv/bin/python bench/bench_baseline.py [--cases image-2x10,image-10x10] [--epochs 10]``.

The recipe the first design described (and what a straightforward PyTorch transfer-learning
script does): a frozen EfficientNet-Lite0 backbone in torch, run again on every image in
every one of 10 epochs (training images through the backbone then a training step of the
head; validation images through the backbone then the head, for the epoch's accuracy), with
a 1280->256->N head trained by Adam on batches of 16. Images are decoded every epoch too, as
a ``Dataset.__getitem__`` would. Teachbox instead featurizes each image once with onnxruntime
and trains its heads on the cached features; ``bench/bench_training.py`` times that on the
same images (same generator, same seed), so the two times can be divided.

``--epochs`` below 10 measures that many epochs and scales the time to 10 (each epoch does
the same work; the table says so), for a quick run.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

from teachbox.datasets import sample_key
from teachbox.featurizers import load_image_array
from teachbox.storage import LocalStorage

__all__ = ["EPOCHS", "run_baseline", "run_cases"]

_logger = logging.getLogger(__name__)

EPOCHS = 10
_BATCH = 16
_HIDDEN = 256


def _batches(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def run_baseline(case: str, epochs: int = EPOCHS, threads: int = 1) -> dict:
    """Train the original recipe on ``case``'s images for ``epochs`` epochs; times scaled to 10."""
    import torch
    from bench_training import write_dataset
    from torch import nn

    from teachbox.featurizers.export import lite0_backbone

    kind, size = case.split("-")
    if kind != "image":
        raise ValueError(f"the original recipe is an image recipe; case {case!r} is {kind}")
    classes, per_class = (int(n) for n in size.split("x"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as folder:
        storage = LocalStorage(folder)
        # The very images bench_training trains on: same generator, same seed.
        manifest = write_dataset(storage, kind, classes, per_class, seed=zlib.crc32(case.encode()))
        images = {split: [(storage.get(sample_key("bench", "d1", s)), s.class_index)
                          for s in manifest.samples if s.split == split] for split in ("train", "val")}
    backbone = lite0_backbone()
    head = nn.Sequential(nn.Linear(1280, _HIDDEN), nn.ReLU(), nn.Linear(_HIDDEN, classes))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def features(batch: list[tuple[bytes, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = torch.from_numpy(np.stack([load_image_array(data) for data, _ in batch]))
        with torch.no_grad():
            return backbone(pixels), torch.tensor([label for _, label in batch])

    started = time.perf_counter()
    accuracy = 0.0
    for _ in range(epochs):
        head.train()
        order = torch.randperm(len(images["train"])).tolist()
        for batch in _batches([images["train"][i] for i in order], _BATCH):
            x, y = features(batch)
            optimizer.zero_grad()
            loss_fn(head(x), y).backward()
            optimizer.step()
        head.eval()
        correct = 0
        for batch in _batches(images["val"], _BATCH):
            x, y = features(batch)
            with torch.no_grad():
                correct += int((head(x).argmax(dim=1) == y).sum())
        accuracy = correct / max(1, len(images["val"]))
    measured = time.perf_counter() - started
    return {"case": case, "epochs_measured": epochs, "measured_s": measured,
            "baseline_s": measured * EPOCHS / epochs, "accuracy": accuracy,
            "images": len(images["train"]) + len(images["val"]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_cases(cases: list[str], epochs: int = EPOCHS, threads: int = 1) -> list[dict]:
    """Each case in its own process, like bench_training, so one does not warm the next."""
    rows = []
    for case in cases:
        command = [sys.executable, __file__, "--case", case, "--epochs", str(epochs),
                   "--threads", str(threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="image-2x10,image-10x10,image-10x100")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the trainer's onnx default)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_baseline(args.case, args.epochs, args.threads)))
        return
    print(f"{'case':<14} {'epochs timed':>12} {'10-epoch s':>10} {'val acc':>7} {'peak RSS MB':>11}")
    for r in run_cases(args.cases.split(","), args.epochs, args.threads):
        print(f"{r['case']:<14} {r['epochs_measured']:>12} {r['baseline_s']:>10.2f} {r['accuracy']:>7.3f} "
              f"{r['peak_rss_mb']:>11.0f}", flush=True)


if __name__ == "__main__":
    main()
