"""The bench suite runs its sections on tiny inputs and writes one table as JSON and Markdown.

Smoke tests of the code paths, never of speed: no assertion here is about how fast anything is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.bench_baseline import run_baseline
from bench.bench_baseline import run_cases as run_baseline_cases
from bench.bench_inference import measure
from bench.bench_training import run_cases as run_training_cases
from bench.bench_upload import make_images, run_upload
from bench.suite import Plan, render_markdown, render_text, run_suite, table_rows, write_results

TINY = Plan(training_cases=("image-2x10",), baseline_epochs=1, baseline_max_passes=20, inference_runs=3,
            cold_repeats=1, upload_images=20, digits_sizes=(10,), text_per_class=100)


@pytest.fixture(scope="module")
def upload_results(cache_dir: Path) -> dict:
    """The suite with its upload section only: a real gunicorn serving the real web app."""
    return run_suite(TINY, str(cache_dir), only=("upload",))


def test_upload_through_gunicorn_reports_both_phases_and_the_server_peak_memory() -> None:
    result = run_upload(make_images(20), classes=2)
    assert (result["images"], result["classes"]) == (20, 2)
    assert result["total_s"] == pytest.approx(result["upload_s"] + result["preprocess_s"])
    assert result["worker_peak_rss_mb"] > result["master_peak_rss_mb"] > 0


def test_results_carry_the_machine_they_ran_on(upload_results: dict) -> None:
    machine = upload_results["machine"]
    assert machine["nproc"] >= 1 and machine["ram_gb"] > 0 and machine["cpu"] != "unknown"
    assert machine["date"].endswith("UTC")


def test_markdown_and_text_tables_hold_every_row_and_the_machine(upload_results: dict) -> None:
    rows = table_rows(upload_results)
    assert [row[0] for row in rows] == ["upload"]
    markdown, text = render_markdown(upload_results), render_text(upload_results)
    assert f"{upload_results['machine']['nproc']} cores" in markdown
    assert "| upload | 20 images" in markdown
    assert "20 images" in text and "peak RSS MB" in text


def test_results_are_written_as_json_and_markdown(upload_results: dict, tmp_path: Path) -> None:
    json_path, md_path = write_results(upload_results, tmp_path / "results")
    assert json.loads(json_path.read_text()) == upload_results
    assert md_path.read_text() == render_markdown(upload_results)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["latest.json", "latest.md"]


def test_an_unknown_section_is_refused_before_anything_runs(cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown bench section.s. speed; choose from training, inference"):
        run_suite(TINY, str(cache_dir), only=("speed",))


def test_the_command_line_names_an_unknown_section(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", "training,speed"])
    assert exit_info.value.code == 2
    assert "unknown section(s) speed in --only" in capsys.readouterr().err


def test_training_case_reports_its_ratio_to_the_bare_pass_and_peak_memory(cache_dir: Path) -> None:
    [row] = run_training_cases(["image-2x10"], str(cache_dir))
    assert row["case"] == "image-2x10"
    assert row["ratio"] == pytest.approx(row["promoted_s"] / row["bare_s"])
    assert row["peak_rss_mb"] >= row["rss_promoted_mb"] > 0


def test_original_recipe_scales_the_timed_epochs_to_ten() -> None:
    [row] = run_baseline_cases(["image-2x10"], epochs=1)
    assert row["epochs_measured"] == 1
    assert row["baseline_s"] == pytest.approx(row["measured_s"] * 10)
    assert row["images"] == 20 and 0 <= row["accuracy"] <= 1


def test_original_recipe_refuses_a_text_case() -> None:
    with pytest.raises(ValueError, match="the original recipe is an image recipe; case 'text-2x100' is text"):
        run_baseline("text-2x100")


def test_inference_summary_has_cold_and_warm_percentiles_for_image_and_text(cache_dir: Path) -> None:
    result = measure(str(cache_dir), runs=3, cold_repeats=1)
    for name in ("warm image", "warm text", "cold image, without-scipy", "cold text, without-scipy"):
        assert result["summary"][name]["p95_ms"] >= result["summary"][name]["p50_ms"] > 0, name
