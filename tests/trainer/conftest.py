"""Small real datasets drawn and written by the tests, and a worker on the test storage."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from teachbox.datasets import (
    DatasetManifest,
    Sample,
    sample_key,
    sha256_hex,
    stratified_split,
    write_manifest,
)
from teachbox.jobs import JobRecord, submit_job
from teachbox.settings import Settings
from teachbox.storage import Storage, new_id
from trainer.worker import Worker

SHAPES = ("circle", "square", "triangle")

TOPICS = {
    "sport": (
        ["The {team} won the {event} after a {adj} {period}.",
         "Our {team} lost the {event} in the last {period}.",
         "Fans cheered as the {team} scored in the {event}.",
         "The coach praised the {team} before the {event}."],
        {"team": ["striker", "home side", "goalkeeper", "rowing crew", "relay team", "captain"],
         "event": ["final", "derby", "match", "tournament", "championship", "league game"],
         "adj": ["tense", "thrilling", "muddy", "long", "scoreless"],
         "period": ["half", "quarter", "minute", "inning", "overtime"]},
    ),
    "cooking": (
        ["Stir the {food} with {ingredient} for {time}.",
         "Bake the {food} until the {ingredient} is {adj}.",
         "My grandmother seasons the {food} with {ingredient}.",
         "Chop the {ingredient} and add it to the {food}."],
        {"food": ["soup", "bread", "risotto", "stew", "pie", "omelette"],
         "ingredient": ["garlic", "butter", "onion", "basil", "pepper", "cream"],
         "adj": ["golden", "crispy", "soft", "caramelised", "melted"],
         "time": ["ten minutes", "an hour", "a while", "two minutes"]},
    ),
    "weather": (
        ["Tomorrow brings {adj} {sky} and {wind} from the {direction}.",
         "Expect {sky} with {wind} tonight.",
         "The forecast warns of {adj} {sky} over the {direction} coast.",
         "A {wind} will clear the {sky} by noon."],
        {"sky": ["rain", "clouds", "showers", "fog", "sunshine", "snow"],
         "wind": ["breeze", "gale", "strong gusts", "light wind"],
         "adj": ["heavy", "scattered", "freezing", "patchy", "bright"],
         "direction": ["north", "south", "east", "west"]},
    ),
}


def draw_shape(shape: str, rng: random.Random, size: int = 160) -> bytes:
    """A PNG of one filled shape, random colours, position and size, on a random background."""
    background = tuple(rng.randint(170, 255) for _ in range(3))
    colour = tuple(rng.randint(0, 120) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    r = rng.randint(size // 6, size // 3)
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def write_image_dataset(
    storage: Storage, per_class: dict[str, list[bytes]], project_id: str = "", val_fraction: float = 0.25
) -> DatasetManifest:
    """A dataset snapshot as preprocess writes it: sample objects first, manifest last."""
    project_id = project_id or new_id()
    dataset_id = new_id()
    names = list(per_class)
    splits = stratified_split([[sha256_hex(d) for d in per_class[n]] for n in names], val_fraction)
    samples = []
    for index, name in enumerate(names):
        for number, (data, split) in enumerate(zip(per_class[name], splits[index], strict=True)):
            samples.append(Sample(class_index=index, split=split, sha256=sha256_hex(data), size=len(data),
                                  source=f"{name}_{number}.png", ext="png"))
            storage.put(sample_key(project_id, dataset_id, samples[-1]), data)
    manifest = DatasetManifest(dataset_id=dataset_id, project_id=project_id, kind="image", class_names=names,
                               samples=samples, val_fraction=val_fraction, featurizer="lite0")
    write_manifest(storage, manifest)
    return manifest


def write_text_dataset(
    storage: Storage, per_class: dict[str, list[str]], project_id: str = "", val_fraction: float = 0.3
) -> DatasetManifest:
    project_id = project_id or new_id()
    names = list(per_class)
    splits = stratified_split([[sha256_hex(t.encode()) for t in per_class[n]] for n in names], val_fraction)
    samples = [
        Sample(class_index=index, split=split, sha256=sha256_hex(text.encode()), size=len(text.encode()),
               source=f"{name}.csv row {row + 2}", text=text)
        for index, name in enumerate(names)
        for row, (text, split) in enumerate(zip(per_class[name], splits[index], strict=True))
    ]
    manifest = DatasetManifest(dataset_id=new_id(), project_id=project_id, kind="text", class_names=names,
                               samples=samples, val_fraction=val_fraction, featurizer="minilm")
    write_manifest(storage, manifest)
    return manifest


def shapes(n_per_class: int, seed: int, classes: tuple[str, ...] = SHAPES) -> dict[str, list[bytes]]:
    rng = random.Random(seed)
    return {shape: [draw_shape(shape, rng) for _ in range(n_per_class)] for shape in classes}


def topic_texts(n_per_class: int, seed: int) -> dict[str, list[str]]:
    """Distinct templated sentences per topic (a set, so the split sees no duplicates)."""
    rng = random.Random(seed)
    out = {}
    for topic, (templates, words) in TOPICS.items():
        texts: set[str] = set()
        while len(texts) < n_per_class:
            template = rng.choice(templates)
            texts.add(template.format(**{k: rng.choice(v) for k, v in words.items()}))
        out[topic] = sorted(texts)
    return out


def submit(storage: Storage, manifest: DatasetManifest, **options: object) -> JobRecord:
    return submit_job(storage, manifest.project_id, manifest.dataset_id, manifest.kind,
                      featurizer=manifest.featurizer, options=dict(options))


@pytest.fixture
def trainer_settings(settings: Settings) -> Settings:
    return settings.replace(heartbeat_seconds=0.2, lease_seconds=30.0, trainer_poll_seconds=0.05)


@pytest.fixture
def worker(storage: Storage, trainer_settings: Settings) -> Worker:
    """A trainer on the test folder that skips the (slow) exports; export tests ask for them."""
    return Worker(storage, trainer_settings, trainer_id="test-trainer", export=False)
