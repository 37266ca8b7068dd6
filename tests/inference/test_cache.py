"""The warm model cache: new versions without a restart, old versions after failures, LRU, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lambda_infer import predict
from lambda_infer.cache import ModelCache, estimate_model_bytes
from teachbox.errors import NotFound
from teachbox.storage import S3Storage, Storage
from tests.inference.conftest import TrainedProject, train, write_dataset

pytestmark = pytest.mark.slow

HAPPY = ["Thank you for the lovely gift!"]


class FakeClock:
    """Monotonic time the test moves by hand: the refresh interval without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(trained: TrainedProject, **kwargs: object) -> ModelCache:
    options = {"budget_bytes": 1 << 30, "refresh_seconds": 2.0, **kwargs}
    return ModelCache(trained.settings.cache_dir, **options)


def _version(trained: TrainedProject, cache: ModelCache, storage: Storage | None = None, **kwargs) -> str:
    inputs = HAPPY if trained.manifest.kind == "text" else [trained.sample_input(trained.manifest.samples[0])]
    return predict(trained.project.id, inputs, storage or trained.storage, trained.settings,
                   cache=cache, **kwargs)["version"]


def test_a_newly_promoted_version_answers_once_the_refresh_interval_passes(
    trained_text: TrainedProject, tmp_path: Path
) -> None:
    project = trained_text.copy_to(tmp_path / "data")
    clock = FakeClock()
    cache = _cache(project, clock=clock)
    assert _version(project, cache) == "v1"

    assert train(project.storage, project.settings, project.manifest).state == "succeeded"
    answered_before = _version(project, cache)
    clock.now += 2.0
    answered_after = _version(project, cache)

    assert (answered_before, answered_after) == ("v1", "v2")


def test_a_failed_retrain_leaves_the_old_version_answering(
    trained_image: TrainedProject, tmp_path: Path
) -> None:
    project = trained_image.copy_to(tmp_path / "data")
    cache = _cache(project, refresh_seconds=0.0)
    samples = [[project.sample_input(s) for s in project.manifest.samples if s.class_index == c]
               for c in (0, 1)]
    damaged = write_dataset(project.storage, project.project, samples, 0.25)
    project.storage.delete_prefix(f"projects/{project.project.id}/datasets/{damaged.dataset_id}/samples/1/")

    job = train(project.storage, project.settings, damaged)

    assert job.state == "failed"
    assert _version(project, cache) == "v1"


def test_an_older_version_answers_when_asked_for_by_name(
    trained_text: TrainedProject, tmp_path: Path
) -> None:
    project = trained_text.copy_to(tmp_path / "data")
    train(project.storage, project.settings, project.manifest)

    assert _version(project, _cache(project), version="v1") == "v1"


def test_an_unknown_version_is_404(trained_text: TrainedProject) -> None:
    with pytest.raises(NotFound, match="No model version 'v9' in this project."):
        _version(trained_text, _cache(trained_text), version="v9")


def test_the_least_recently_used_model_is_evicted_past_the_memory_budget(
    trained_image: TrainedProject, tmp_path: Path
) -> None:
    first, second, third = (trained_image.copy_to(tmp_path / name) for name in ("a", "b", "c"))
    size = _model_size(trained_image)
    cache = _cache(trained_image, budget_bytes=2 * size)

    _version(first, cache)
    _version(second, cache)
    _version(first, cache)  # first is now the most recently used
    _version(third, cache)  # over budget: second goes

    assert cache.cached_keys() == [_key(first), _key(third)]
    assert cache.size_bytes() == 2 * size


def test_an_evicted_model_is_loaded_again_when_asked_for(
    trained_image: TrainedProject, tmp_path: Path
) -> None:
    first, second = (trained_image.copy_to(tmp_path / name) for name in ("a", "b"))
    cache = _cache(trained_image, budget_bytes=_model_size(trained_image))

    _version(first, cache)
    _version(second, cache)
    _version(first, cache)

    assert cache.loads == 3
    assert cache.cached_keys() == [_key(first)]


def test_concurrent_first_requests_load_the_model_once(trained_text: TrainedProject) -> None:
    cache = _cache(trained_text)
    start = threading.Barrier(8)
    versions: list[str] = []

    def ask() -> None:
        start.wait()
        versions.append(_version(trained_text, cache))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert versions == ["v1"] * 8
    assert cache.loads == 1


def _model_size(trained: TrainedProject) -> int:
    cache = ModelCache(trained.settings.cache_dir, budget_bytes=1 << 30)
    model = cache.get(trained.storage, trained.project.id)
    return estimate_model_bytes(trained.storage, model)


def _key(trained: TrainedProject) -> tuple[str, str, str]:
    return (trained.storage.url, trained.project.id, trained.version)


def test_a_model_in_s3_answers_like_the_same_model_on_disk(
    trained_text: TrainedProject, s3_storage: S3Storage
) -> None:
    for key in trained_text.storage.list(f"projects/{trained_text.project.id}/"):
        s3_storage.put(key, trained_text.storage.get(key))
    cache = _cache(trained_text)
    project_id, settings = trained_text.project.id, trained_text.settings

    from_disk = predict(project_id, HAPPY, trained_text.storage, settings, cache=cache)
    from_s3 = predict(project_id, HAPPY, s3_storage, settings, cache=cache)

    assert from_s3["predictions"] == from_disk["predictions"]
    assert cache.loads == 2  # one model per storage: the same project id elsewhere is another model
