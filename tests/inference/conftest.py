"""Fixtures for the inference tests: Function URL events, the Lambda handler on test storage."""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import lambda_infer.handler as handler_module
from teachbox.bundles import current_version
from teachbox.datasets import (
    DatasetManifest,
    Sample,
    sample_key,
    sha256_hex,
    stratified_split,
    write_manifest,
)
from teachbox.jobs import JobRecord, get_job, submit_job
from teachbox.projects import Project, create_project
from teachbox.settings import Settings, load_settings
from teachbox.storage import LocalStorage, Storage, new_id


def function_url_event(
    path: str,
    body: bytes | str = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict:
    """A Lambda Function URL event (payload format 2.0), as AWS documents it."""
    raw = body.encode() if isinstance(body, str) else body
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"host": "abc123.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0",
                    **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795600800000,
        },
        # Function URLs base64-encode every body that is not text.
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }
    if query:
        event["queryStringParameters"] = query
    return event


def json_event(project_id: str, body: dict, token: str | None = None, **kwargs) -> dict:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return function_url_event(f"/projects/{project_id}/predict", json.dumps(body),
                              headers=headers, **kwargs)


def response_json(response: dict) -> dict:
    assert response["headers"] == {"content-type": "application/json"}
    return json.loads(response["body"])


def png_bytes(shape: str = "circle", size: int = 96, color: str = "red") -> bytes:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    box = (size // 5, size // 5, size - size // 5, size - size // 5)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def lambda_handler(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict], dict]:
    """``handler(event, None)`` of a fresh Lambda container whose environment points at the
    test's storage folder."""
    monkeypatch.setenv("TEACHBOX_STORAGE", settings.storage)
    monkeypatch.setenv("TEACHBOX_CACHE_DIR", settings.cache_dir)
    monkeypatch.setattr(handler_module, "_state", None)
    return lambda event: handler_module.handler(event, None)


@pytest.fixture
def image_project(storage: Storage) -> Project:
    return create_project(storage, "alice", "Shapes", "image", ["circle", "square"])


@pytest.fixture
def text_project(storage: Storage) -> Project:
    return create_project(storage, "alice", "Moods", "text", ["happy", "sad"])


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return Path(settings.storage[len("file://"):])


# --- Real trained models: drawn shapes and templated sentences, trained by the real trainer. ---

SENTENCES = {
    "happy": (["I {verb} this {thing}, it made my {time}!", "What a {adj} {thing}, I am so glad.",
               "The {thing} was {adj} and everyone smiled.", "Thank you for the {adj} {thing}!"],
              {"verb": ["love", "adore", "enjoyed", "really like"],
               "thing": ["party", "concert", "gift", "holiday", "meal", "film", "surprise"],
               "time": ["day", "week", "evening", "morning"],
               "adj": ["wonderful", "lovely", "delightful", "fantastic", "brilliant"]}),
    "sad": (["I {verb} this {thing}, it ruined my {time}.", "What a {adj} {thing}, I feel awful.",
             "The {thing} was {adj} and everyone cried.", "I miss the {thing}, it was {adj} to lose."],
            {"verb": ["hated", "regret", "dreaded", "could not stand"],
             "thing": ["funeral", "breakup", "loss", "goodbye", "accident", "rejection", "diagnosis"],
             "time": ["day", "week", "evening", "morning"],
             "adj": ["terrible", "miserable", "gloomy", "heartbreaking", "painful"]}),
}


@dataclass
class TrainedProject:
    """A project trained by the real trainer, in its own storage folder."""

    settings: Settings
    storage: LocalStorage
    project: Project
    manifest: DatasetManifest
    version: str

    def copy_to(self, folder: Path) -> TrainedProject:
        """The same project in a copy of the storage folder, for tests that change it."""
        shutil.copytree(self.storage.root, folder)
        settings = self.settings.replace(storage=f"file://{folder}")
        return TrainedProject(settings, LocalStorage(folder), self.project, self.manifest, self.version)

    def sample_input(self, sample: Sample) -> bytes | str:
        if self.manifest.kind == "text":
            return sample.text
        return self.storage.get(sample_key(self.project.id, self.manifest.dataset_id, sample))


def draw_shape(shape: str, rng: random.Random, size: int = 128) -> bytes:
    background = tuple(rng.randint(170, 255) for _ in range(3))
    colour = tuple(rng.randint(0, 110) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    r = rng.randint(size // 6, size // 3)
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    (draw.ellipse if shape == "circle" else draw.rectangle)((cx - r, cy - r, cx + r, cy + r), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def templated_sentences(label: str, count: int, rng: random.Random) -> list[str]:
    templates, words = SENTENCES[label]
    texts: set[str] = set()
    while len(texts) < count:
        texts.add(rng.choice(templates).format(**{k: rng.choice(v) for k, v in words.items()}))
    return sorted(texts)


def write_dataset(storage: Storage, project: Project, per_class: list[list[bytes]] | list[list[str]],
                  val_fraction: float) -> DatasetManifest:
    """A dataset snapshot as preprocess writes it: sample objects first, the manifest last."""
    dataset_id = new_id()
    as_bytes = [[x.encode() if isinstance(x, str) else x for x in items] for items in per_class]
    splits = stratified_split([[sha256_hex(x) for x in items] for items in as_bytes], val_fraction)
    samples = []
    for index, items in enumerate(per_class):
        for number, item in enumerate(items):
            data = as_bytes[index][number]
            sample = Sample(class_index=index, split=splits[index][number], sha256=sha256_hex(data),
                            size=len(data), source=f"{project.class_names[index]}_{number}",
                            ext="png" if project.kind == "image" else "",
                            text=item if isinstance(item, str) else "")
            if project.kind == "image":
                storage.put(sample_key(project.id, dataset_id, sample), data)
            samples.append(sample)
    manifest = DatasetManifest(dataset_id=dataset_id, project_id=project.id, kind=project.kind,
                               class_names=project.class_names, samples=samples,
                               val_fraction=val_fraction,
                               featurizer="lite0" if project.kind == "image" else "minilm")
    write_manifest(storage, manifest)
    return manifest


def train(storage: Storage, settings: Settings, manifest: DatasetManifest) -> JobRecord:
    """Queue a job for ``manifest`` and run the real trainer until the queue is empty."""
    from trainer.worker import Worker  # training code: tests only, never the serving path

    job = submit_job(storage, manifest.project_id, manifest.dataset_id, manifest.kind,
                     featurizer=manifest.featurizer)
    Worker(storage, settings, trainer_id="inference-tests", export=False).work(burst=True)
    return get_job(storage, job.job_id)


def _trained(folder: Path, cache_dir: Path, kind: str, per_class: list, names: list[str],
             val_fraction: float) -> TrainedProject:
    settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=str(cache_dir),
                             secret_key="test-secret")
    storage = LocalStorage(folder)
    project = create_project(storage, "alice", f"{kind} fixture", kind, names)
    manifest = write_dataset(storage, project, per_class, val_fraction)
    job = train(storage, settings, manifest)
    assert job.state == "succeeded", job.error
    return TrainedProject(settings, storage, project, manifest, current_version(storage, project.id))


@pytest.fixture(scope="session")
def trained_image(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> TrainedProject:
    """Circles and squares, 12 drawings each, trained once per test session."""
    rng = random.Random(6)
    per_class = [[draw_shape(shape, rng) for _ in range(12)] for shape in ("circle", "square")]
    return _trained(tmp_path_factory.mktemp("image-project"), cache_dir, "image", per_class,
                    ["circle", "square"], 0.25)


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> TrainedProject:
    """Happy and sad sentences, 100 each, trained once per test session."""
    rng = random.Random(6)
    per_class = [templated_sentences(label, 100, rng) for label in ("happy", "sad")]
    return _trained(tmp_path_factory.mktemp("text-project"), cache_dir, "text", per_class,
                    ["happy", "sad"], 0.3)
