"""Training speed: time from job claimed to model promoted, against one bare featurizer pass.

Run: ``.venv/bin/python bench/bench_training.py [--cases image-2x10,text-3x1000] [--threads N]``
on an idle machine. Each case runs in its own process (so peak RSS is the case's own), on
fresh data with an empty feature cache, through the real worker: load dataset, featurize,
fit the candidate heads, evaluate, write the bundle, promote. Then, in the same process and
on the same inputs, a bare ``featurizer.featurize`` pass before and after (the reference is
their mean), and a retrain of the same dataset
(every feature cached). Exports are written after promotion and timed on their own.

Goals (issue 5): image 2x10 under 3 s; image 10x100 and text 3x1000 within 1.3x of the
bare pass; peak RSS under 1.5 GB.

Measured on the 2-core dev machine while other engineers' tests shared it (so the bare passes
vary between runs; onnxruntime 1 thread, torch 1 thread):

    case          claim->promoted s  bare pass s  ratio  retrain s  exports s  RSS at promotion / peak MB
    image-2x10                 0.23         0.22   1.05       0.02       1.09                 1291 / 1390
    image-10x10                1.19         1.05   1.13       0.16       1.33                 1285 / 1394
    image-10x100              13.55        14.57   0.93       0.61       1.89                 1319 / 1404
    text-2x100                 1.27         1.10   1.15       0.11       2.69                 1252 / 1656
    text-3x1000               16.46        13.02   1.26       2.53       2.28                 1487 / 1701

A second run, on a quieter machine: image-2x10 0.23 s (ratio 1.10), image-10x100 9.50 s vs a
bare 8.90 s (1.07), text-3x1000 17.15 s vs 13.86 s (1.24).

Model choice (issue 13; real packaged data, held-out accuracy through serving; two runs on the
shared machine 2026-11-26, the faster time of each is what the Train form shows):

    case                      claim->promoted s   bare pass s  ratio  val acc  held-out acc
    digits-10x10@lite0               1.07 / 1.11   1.42 / 0.99   0.75   0.800         0.726
    digits-10x10@lite1               3.44 / 1.47   2.72 / 2.03   1.27   0.700         0.670
    digits-10x10@lite2               1.96 / 4.86   1.81 / 2.80   1.09   0.650         0.688
    docs-3x30@minilm                 2.15 / 2.06   0.62 / 0.56   3.45   0.926         0.828
    docs-3x30@minilm-tuned                 40.21          0.48  84.61   0.889         0.878

On 100 tiny upscaled digits the larger backbones do not help (they were made for photos); on
the docstrings, fine-tuning gained 5 points of held-out accuracy for ~20x the training time.
The text ratio to a bare pass is high on 90 texts: the n-gram candidates, not the backbone,
dominate such a small set.

About half of the RSS is torch's shared libraries mapped from disk (RssFile); the peak above
the promotion figure comes from tracing the backbone for the exports, after promotion.
The polygon classes of the image cases (3 to 12 sides) are a speed workload, not a quality
test: many-sided polygons look alike, hence the low accuracies.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

from teachbox.datasets import (
    DatasetManifest,
    Sample,
    sample_key,
    sha256_hex,
    stratified_split,
    write_manifest,
)
from teachbox.featurizers import create_featurizer
from teachbox.jobs import claim_next_job, submit_job
from teachbox.settings import load_settings
from teachbox.storage import LocalStorage
from trainer.daemon import configure_threads, warm_up
from trainer.worker import JobHeartbeat, Worker, train_job

CASES = ("image-2x10", "image-10x10", "image-10x100", "text-2x100", "text-3x1000")
# One row per model choice (issue 13): ``<case>@<featurizer>``; their numbers feed the Train
# form's table (teachbox/featurizers/catalog.py, with the date measured).
# They train on real data shipped in installed packages (bench/quality.py: scikit-learn's
# handwritten digits, the standard library's docstrings by topic) and add the accuracy on that
# task's fixed held-out set, scored through serving.
MODEL_CASES = ("digits-10x10@lite0", "digits-10x10@lite1", "digits-10x10@lite2", "docs-3x30@minilm",
               "docs-3x30@minilm-tuned")
_REAL_KINDS = {"digits": "image", "docs": "text"}
_DEFAULT = {"image": "lite0", "text": "minilm"}
_TOPIC_WORDS = {
    "sport": "match goal team coach league striker referee season score cup final win".split(),
    "cooking": "oven garlic butter recipe stew bake onion simmer sauce flour taste pan".split(),
    "weather": "rain forecast cloud wind storm sunny fog cold breeze snow humid sky".split(),
}
_COMMON = "the a today we it was very and then of in on after before with".split()


def _polygon_image(sides: int, rng: random.Random) -> bytes:
    """A 427x320 JPEG (the size preprocess stores) with one regular polygon of ``sides``."""
    image = Image.new("RGB", (427, 320), tuple(rng.randrange(150, 256) for _ in range(3)))
    radius = rng.randint(50, 130)
    cx, cy = rng.randint(radius, 427 - radius), rng.randint(radius, 320 - radius)
    turn = rng.random() * math.tau
    points = [(cx + radius * math.cos(turn + math.tau * k / sides),
               cy + radius * math.sin(turn + math.tau * k / sides)) for k in range(sides)]
    ImageDraw.Draw(image).polygon(points, fill=tuple(rng.randrange(0, 120) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _sentence(topic: str, rng: random.Random) -> str:
    words = [rng.choice(_TOPIC_WORDS[topic] if rng.random() < 0.4 else _COMMON)
             for _ in range(rng.randint(6, 30))]
    return " ".join(words).capitalize() + f" ({rng.randrange(10**6)})."


def write_dataset(
    storage: LocalStorage, kind: str, classes: int, per_class: int, seed: int, featurizer: str = "",
    real: list | None = None,
) -> DatasetManifest:
    """Synthetic data of ``classes`` x ``per_class``, or ``real`` (per class, the task's items)."""
    rng = random.Random(seed)
    if real is not None:
        names = [f"class-{c}" for c in range(len(real))]
        data = [[item.encode() if isinstance(item, str) else item for item in items] for items in real]
    elif kind == "image":
        names = [f"{sides}-gon" for sides in range(3, 3 + classes)]
        data = [[_polygon_image(3 + c, rng) for _ in range(per_class)] for c in range(classes)]
    else:
        names = list(_TOPIC_WORDS)[:classes]
        data = [[_sentence(name, rng).encode() for _ in range(per_class)] for name in names]
    val_fraction = 0.3 if kind == "text" else (0.2 if per_class <= 10 else 0.3)
    splits = stratified_split([[sha256_hex(d) for d in items] for items in data], val_fraction)
    samples = []
    for c, items in enumerate(data):
        for row, (item, split) in enumerate(zip(items, splits[c], strict=True)):
            sample = Sample(class_index=c, split=split, sha256=sha256_hex(item), size=len(item),
                            source=f"item {row}", ext="jpg" if kind == "image" else "",
                            text=item.decode() if kind == "text" else "")
            if kind == "image":
                storage.put(sample_key("bench", "d1", sample), item)
            samples.append(sample)
    manifest = DatasetManifest(dataset_id="d1", project_id="bench", kind=kind, class_names=names,
                               samples=samples, val_fraction=val_fraction,
                               featurizer=featurizer or _DEFAULT[kind])
    write_manifest(storage, manifest)
    return manifest


def run_case(case: str, cache_dir: str, threads: int | None) -> dict:
    size_case, _, model = case.partition("@")
    kind, size = size_case.split("-")
    classes, per_class = (int(n) for n in size.split("x"))
    task = None
    if kind in _REAL_KINDS:
        import quality  # a sibling script, as bench_baseline imports this one

        task = quality.digits_task(per_class) if kind == "digits" else quality.python_docs_task(per_class)
        kind = _REAL_KINDS[kind]
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    overrides = {"onnx_threads": threads} if threads else {}
    settings = load_settings(storage=f"file://{work}", cache_dir=cache_dir, **overrides)
    shutil.rmtree(Path(cache_dir, "features"), ignore_errors=True)  # the graphs stay, features go
    storage = LocalStorage(work)
    configure_threads()
    warm_up(settings)  # what a running daemon has already paid
    # The same data for every model of a size: the rows compare models, not datasets.
    manifest = write_dataset(storage, kind, classes, per_class, seed=zlib.crc32(size_case.encode()),
                             featurizer=model, real=task.train if task else None)
    worker = Worker(storage, settings, trainer_id="bench")

    rss_at_promotion: list[float] = []

    def train_once(export: bool) -> tuple[float, object]:
        submit_job(storage, "bench", "d1", kind, featurizer=manifest.featurizer)
        claim = claim_next_job(storage, "bench")
        started = time.perf_counter()
        with JobHeartbeat(storage, claim, settings.heartbeat_seconds) as beat:
            trained = train_job(storage, settings, claim, beat)
            promoted = time.perf_counter() - started
            rss_at_promotion.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            exports_started = time.perf_counter()
            if export:
                worker.write_exports(trained, beat)
        trained.meta.timings["exports_s"] = time.perf_counter() - exports_started
        return promoted, trained

    if kind == "image":
        inputs = [storage.get(sample_key("bench", "d1", s)) for s in manifest.samples]
    else:
        inputs = [s.text for s in manifest.samples]
    # A fine-tuned model's own bare backbone is the frozen encoder it starts from.
    bare_name = "minilm" if manifest.featurizer == "minilm-tuned" else manifest.featurizer
    featurizer = create_featurizer(bare_name, cache_dir, threads=settings.onnx_threads)

    def bare_pass() -> float:
        started = time.perf_counter()
        featurizer.featurize(inputs)
        return time.perf_counter() - started

    # A bare pass before and after the training: the first run of a session pays for
    # onnxruntime's arena growth, so neither order alone is a fair reference.
    bare_before = bare_pass()
    first, trained = train_once(export=True)
    bare_after = bare_pass()
    bare = (bare_before + bare_after) / 2
    heldout_acc = None
    if task is not None:
        from teachbox.serving import load_model

        model = load_model(storage, "bench", trained.meta.version, cache_dir, settings.onnx_threads)
        predicted = model.predict_proba(task.heldout).argmax(axis=1)
        heldout_acc = float((predicted == task.heldout_labels).mean())
    # A model-choice row is about the first training; a fine-tuned retrain would tune again.
    retrain = train_once(export=False)[0] if task is None else None
    shutil.rmtree(work)
    return {
        "case": case, "featurizer": manifest.featurizer, "threads": settings.onnx_threads,
        "promoted_s": first, "bare_s": bare,
        "bare_before_s": bare_before, "bare_after_s": bare_after,
        "ratio": first / bare, "retrain_s": retrain, "exports_s": trained.meta.timings["exports_s"],
        "accuracy": trained.meta.metrics["accuracy"], "heldout_acc": heldout_acc,
        "head": f"{trained.meta.head['type']} on "
        + "+".join(trained.meta.head["inputs"]),
        "rss_promoted_mb": rss_at_promotion[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_cases(cases: list[str], cache_dir: str, threads: int | None = None) -> list[dict]:
    """Each case in its own fresh process (its peak RSS is the case's own); one row per case."""
    rows = []
    for case in cases:
        command = [sys.executable, __file__, "--case", case, "--cache-dir", cache_dir]
        if threads:
            command += ["--threads", str(threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: setting)")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "teachbox-bench-cache"))
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.cache_dir, args.threads)))
        return
    columns = ("case", "thr", "claim->promoted s", "bare pass s (before/after)", "ratio", "retrain s",
               "exports s", "val acc", "held-out acc", "RSS MB at promotion", "peak RSS MB", "head")
    print(" | ".join(columns))
    print("-" * 150)
    for case in args.cases.split(","):
        r = run_cases([case], args.cache_dir, args.threads)[0]
        cells = (r["case"], r["threads"], f"{r['promoted_s']:.2f}",
                 f"{r['bare_s']:.2f} ({r['bare_before_s']:.2f}/{r['bare_after_s']:.2f})",
                 f"{r['ratio']:.2f}", "-" if r["retrain_s"] is None else f"{r['retrain_s']:.2f}",
                 f"{r['exports_s']:.2f}", f"{r['accuracy']:.3f}",
                 "-" if r.get("heldout_acc") is None else f"{r['heldout_acc']:.3f}",
                 f"{r['rss_promoted_mb']:.0f}", f"{r['peak_rss_mb']:.0f}", r["head"])
        print(" | ".join(str(cell).rjust(len(column)) for cell, column in zip(cells, columns, strict=True)),
              flush=True)


if __name__ == "__main__":
    main()
