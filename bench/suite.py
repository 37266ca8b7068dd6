"""The whole bench in one run: training against its floor and the original recipe, inference,
the web upload, and quality on packaged data; one table, also written as JSON and Markdown.

Every number comes from the area benches (``bench_training``, ``bench_baseline``,
``bench_inference``, ``bench_upload``, ``quality``); this module only chooses the sizes,
runs them one after the other on the same machine, and lays the results out side by side.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SECTIONS", "Plan", "plan_for", "machine", "run_suite", "table_rows", "render_text",
           "render_markdown", "write_results"]

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("training", "inference", "upload", "quality")


@dataclass(frozen=True)
class Plan:
    """How big each part of the run is (``--quick`` shrinks every part)."""

    training_cases: tuple[str, ...]
    baseline_epochs: int
    # Each epoch of the original recipe repeats the same work, so past this many backbone
    # passes a case times fewer epochs and scales to 10 (the table says so): 10x100 at
    # 10 epochs alone would take a quarter of an hour on two busy cores.
    baseline_max_passes: int
    inference_runs: int
    cold_repeats: int
    upload_images: int
    digits_sizes: tuple[int, ...]
    text_per_class: int


# The last five cases are one row per model choice (issue 13), ``<case>@<featurizer>``.
FULL = Plan(("image-2x10", "image-10x10", "image-10x100", "text-2x100", "text-3x1000", "digits-10x10@lite0",
             "digits-10x10@lite1", "digits-10x10@lite2", "docs-3x30@minilm", "docs-3x30@minilm-tuned"),
            10, 2500, 200, 5, 1000, (10, 100), 100)
QUICK = Plan(("image-2x10", "image-10x10", "text-2x100"), 2, 500, 50, 2, 200, (10,), 100)


def plan_for(quick: bool) -> Plan:
    return QUICK if quick else FULL


def machine() -> dict:
    """What the numbers were measured on: cores, CPU model, RAM, date, versions."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    import onnxruntime

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(ram_kb / 2**20, 1),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "commit": commit,
            "load_average_start": round(os.getloadavg()[0], 2)}


def _bench_module(name: str):
    # The area benches are scripts that import their siblings by plain name (bench_training
    # imports nothing of ours, bench_baseline imports bench_training), so bench/ goes on the path.
    bench_dir = str(Path(__file__).resolve().parent)
    if bench_dir not in sys.path:
        sys.path.insert(0, bench_dir)
    return __import__(name)


def run_suite(plan: Plan, cache_dir: str, only: tuple[str, ...] = SECTIONS) -> dict:
    """Run the chosen sections; raw results by section, plus the machine and the plan."""
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    plan_json = {key: list(value) if isinstance(value, tuple) else value for key, value in vars(plan).items()}
    results: dict = {"machine": machine(), "plan": plan_json, "sections": {}}
    sections = results["sections"]
    for section in SECTIONS:
        if section not in only:
            continue
        started = time.perf_counter()
        print(f"bench: {section} ...", file=sys.stderr, flush=True)
        if section == "training":
            training = _bench_module("bench_training").run_cases(list(plan.training_cases), cache_dir)
            baseline_bench = _bench_module("bench_baseline")
            baseline = []
            # The original recipe is Lite0-only: the model-choice cases have no baseline.
            for case in (c for c in plan.training_cases if c.startswith("image-") and "@" not in c):
                classes, per_class = (int(n) for n in case.split("-")[1].split("x"))
                epochs = max(1, min(plan.baseline_epochs, plan.baseline_max_passes // (classes * per_class)))
                baseline += baseline_bench.run_cases([case], epochs)
            sections["training"] = {"cases": training, "baseline": baseline}
        elif section == "inference":
            sections["inference"] = _bench_module("bench_inference").measure(
                cache_dir, plan.inference_runs, plan.cold_repeats)
        elif section == "upload":
            upload = _bench_module("bench_upload")
            # 10 classes as in the issue; fewer for a small run, as a class needs 10 images.
            classes = max(2, min(10, plan.upload_images // 10))
            sections["upload"] = upload.run_upload(upload.make_images(plan.upload_images), classes, cache_dir)
        else:
            from bench.quality import run_quality

            sections["quality"] = run_quality(cache_dir, plan.digits_sizes, plan.text_per_class)
        print(f"bench: {section} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    return results


COLUMNS = ("section", "measurement", "result", "reference", "peak RSS MB")


def table_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    """The one table: a row per measurement, its reference beside it."""
    sections = results["sections"]
    rows = []
    if "training" in sections:
        baseline = {r["case"]: r for r in sections["training"]["baseline"]}
        for r in sections["training"]["cases"]:
            rows.append(("training", f"{r['case']} claim->promoted", f"{r['promoted_s']:.2f} s",
                         f"floor (bare pass) {r['bare_s']:.2f} s; ratio {r['ratio']:.2f}"
                         + ("" if r.get("heldout_acc") is None else f"; held-out acc {r['heldout_acc']:.3f}"),
                         f"{r['peak_rss_mb']:.0f}"))
            if r["case"] in baseline:
                b = baseline[r["case"]]
                timed = b["epochs_measured"]
                scaled = "" if timed == 10 else f" ({timed} timed, x{10 / timed:g})"
                speedup = b["baseline_s"] / r["promoted_s"]
                rows.append(("training", f"{r['case']} original recipe, 10 epochs{scaled}",
                             f"{b['baseline_s']:.2f} s", f"Teachbox is {speedup:.0f}x faster",
                             f"{b['peak_rss_mb']:.0f}"))
    if "inference" in sections:
        summary = sections["inference"]["summary"]
        for kind, bare in (("image", "bare lite0"), ("text", "bare minilm")):
            s, b = summary[f"warm {kind}"], summary[bare]
            rows.append(("inference", f"warm {kind} p50 / p95", f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} ms",
                         f"{bare} pass {b['p50_ms']:.1f} / {b['p95_ms']:.1f} ms", ""))
        starts = sections["inference"]["cold_repeats"]
        for kind in ("image", "text"):
            for scipy, label in (("without-scipy", "as deployed (no scipy)"), ("as-installed", "with scipy")):
                s = summary[f"cold {kind}, {scipy}"]
                rows.append(("inference", f"cold {kind} p50 / p95, {label}",
                             f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f} ms",
                             f"new process to first answer, {starts} starts", ""))
    if "upload" in sections:
        u = sections["upload"]
        rows.append(("upload", f"{u['images']} images ({u['megabytes']:.0f} MB) through the web form",
                     f"{u['upload_s']:.1f} s upload + {u['preprocess_s']:.1f} s preprocess",
                     f"{u['images'] / u['total_s']:.0f} images/s end to end",
                     f"{u['worker_peak_rss_mb']:.0f}"))
    for r in sections.get("quality", []):
        rows.append(("quality", f"{r['task']}: {r['model']}",
                     f"acc {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}",
                     f"{r['train_examples']} trained on, {r['heldout']} held out", ""))
    return rows


def _header(results: dict) -> str:
    m = results["machine"]
    return (f"{m['date']} on {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM; Python {m['python']}, "
            f"onnxruntime {m['onnxruntime']}, commit {m['commit']}; load average {m['load_average_start']} "
            f"at start, {m.get('load_average_end', '?')} at end")


def render_text(results: dict) -> str:
    rows = [COLUMNS, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [_header(results), ""]
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def render_markdown(results: dict) -> str:
    lines = [f"Measured {_header(results)}.", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table_rows(results)]
    return "\n".join(lines) + "\n"


def write_results(results: dict, folder: Path) -> tuple[Path, Path]:
    """``latest.json`` and ``latest.md`` in ``folder``, each written whole then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("latest.json", json.dumps(results, indent=2) + "\n"),
                       ("latest.md", render_markdown(results))):
        path = folder / name
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text)
        os.replace(partial, path)
        written.append(path)
    return written[0], written[1]
