"""Dataset snapshots: the immutable, split samples a training job reads.

Images are stored one object per sample under ``samples/<class_index>/<sha256>.<ext>``.
Text rows are small, so they live inside the manifest itself: one object instead of up
to 3000 (3000 S3 PUTs would dominate preprocessing).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from teachbox.errors import NotFound
from teachbox.records import from_dict, now
from teachbox.storage import ObjectNotFound, Storage

__all__ = [
    "SPLITS",
    "Sample",
    "DatasetManifest",
    "dataset_prefix",
    "manifest_key",
    "sample_key",
    "write_manifest",
    "load_manifest",
    "load_sample_bytes",
    "sha256_hex",
    "stratified_split",
]

SPLITS = ("train", "val")
MANIFEST_FORMAT = 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Sample:
    class_index: int
    split: str
    sha256: str
    size: int
    source: str  # what the user called it: a file name, or "reviews.csv row 12"
    ext: str = ""  # image samples: file extension of the stored object
    text: str = ""  # text samples: the row itself


@dataclass
class DatasetManifest:
    dataset_id: str
    project_id: str
    kind: str
    class_names: list[str]
    samples: list[Sample]
    created: float = field(default_factory=now)
    format_version: int = MANIFEST_FORMAT
    val_fraction: float = 0.2
    featurizer: str = ""
    augment: bool = False
    notes: list[str] = field(default_factory=list)  # reported, not fatal (duplicates, empty rows)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """{class name: {"train": n, "val": m}}."""
        out = {name: {"train": 0, "val": 0} for name in self.class_names}
        for sample in self.samples:
            out[self.class_names[sample.class_index]][sample.split] += 1
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DatasetManifest:
        manifest = from_dict(cls, data)
        manifest.samples = [from_dict(Sample, s) for s in data.get("samples", [])]
        return manifest


def dataset_prefix(project_id: str, dataset_id: str) -> str:
    return f"projects/{project_id}/datasets/{dataset_id}/"


def manifest_key(project_id: str, dataset_id: str) -> str:
    return dataset_prefix(project_id, dataset_id) + "manifest.json"


def sample_key(project_id: str, dataset_id: str, sample: Sample) -> str:
    return (
        dataset_prefix(project_id, dataset_id)
        + f"samples/{sample.class_index}/{sample.sha256}.{sample.ext}"
    )


def write_manifest(storage: Storage, manifest: DatasetManifest) -> None:
    """Write the manifest last: its presence marks the snapshot complete."""
    storage.put_json(manifest_key(manifest.project_id, manifest.dataset_id), manifest.to_dict())


def load_manifest(storage: Storage, project_id: str, dataset_id: str) -> DatasetManifest:
    try:
        data = storage.get_json(manifest_key(project_id, dataset_id))
    except ObjectNotFound:
        raise NotFound(f"Dataset {dataset_id} of this project does not exist.") from None
    return DatasetManifest.from_dict(data)


def load_sample_bytes(storage: Storage, manifest: DatasetManifest, sample: Sample) -> bytes:
    """The stored bytes of one sample (the UTF-8 row for text)."""
    if manifest.kind == "text":
        return sample.text.encode("utf-8")
    return storage.get(sample_key(manifest.project_id, manifest.dataset_id, sample))


def stratified_split(
    hashes_per_class: list[list[str]], val_fraction: float
) -> list[list[str]]:
    """Split each class deterministically: returns, per class, "train"/"val" per sample.

    Samples are ordered by content hash (so the same data gives the same split whatever
    order it was uploaded in) and every class keeps at least one sample on each side.
    """
    splits: list[list[str]] = []
    for hashes in hashes_per_class:
        order = sorted(range(len(hashes)), key=lambda i: hashes[i])
        n_val = round(len(hashes) * val_fraction)
        n_val = min(max(n_val, 1), max(len(hashes) - 1, 0))
        labels = ["train"] * len(hashes)
        for i in order[:n_val]:
            labels[i] = "val"
        splits.append(labels)
    return splits
