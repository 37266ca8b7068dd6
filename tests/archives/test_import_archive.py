"""Importing a zip through the real preprocess step, and downloading a dataset to import again."""

from __future__ import annotations

import io

import pytest

from lambda_preprocess import handle
from teachbox.archives import dataset_entries, write_zip
from teachbox.datasets import load_manifest
from teachbox.storage import Storage
from teachbox.uploads import UploadState, get_upload_status, staging_prefix
from tests.archives.conftest import make_zip, stored_objects, zip_with_symlink
from tests.preprocess.corpus import drawn_image


def _stage_archive(storage: Storage, upload, data: bytes, filename: str = "photos.zip") -> dict:
    key = f"{staging_prefix(upload.upload_id)}archive.zip"
    storage.put(key, data)
    return {**upload.payload(), "archive": {"key": key, "filename": filename}}


def _photos(prefix: str, count: int, first_seed: int) -> dict[str, bytes]:
    return {f"{prefix}/img{n:03d}.jpg": drawn_image(first_seed + n, (500, 400)) for n in range(count)}


def test_a_zip_of_class_folders_becomes_the_classes_and_their_samples(storage, settings, new_upload):
    upload = new_upload("image", [])
    data = make_zip({**_photos("Pets/cat", 10, 0), **_photos("Pets/dog", 11, 100),
                     "Pets/.DS_Store": b"junk", "__MACOSX/Pets/cat/._img000.jpg": b"junk"})

    result = handle(_stage_archive(storage, upload, data), storage, settings)

    assert result["ok"] is True, result
    manifest = load_manifest(storage, upload.project_id, result["dataset_id"])
    assert manifest.class_names == ["cat", "dog"]
    assert {name: sum(c.values()) for name, c in manifest.counts().items()} == {"cat": 10, "dog": 11}
    assert sorted(s.source for s in manifest.samples)[:2] == ["cat/img000.jpg", "cat/img001.jpg"]
    assert result["notes"] == [
        "Skipped 2 system or hidden files in the archive (Pets/.DS_Store, __MACOSX/Pets/cat/._img000.jpg)."]
    assert storage.list(staging_prefix(upload.upload_id)) == []


def _hostile(kind: str) -> bytes:
    good = {**_photos("cat", 10, 0), **_photos("dog", 10, 50)}
    if kind == "symlink":
        return zip_with_symlink("dog/link.jpg", "/etc/passwd", good)
    extra = {"slip": {"../../escape.jpg": drawn_image(99)},
             "bomb": {"dog/bomb.jpg": bytes(50 * 1024 * 1024)},
             "nested": {"dog/more.zip": make_zip({"x.jpg": drawn_image(98)})}}[kind]
    return make_zip({**good, **extra})


@pytest.mark.parametrize(("kind", "message"), [
    ("slip", "../../escape.jpg: the entry points outside the archive (an absolute path, a drive letter or "
             "'..'). Make the archive again from the class folders themselves."),
    ("symlink", "dog/link.jpg: the entry is a symbolic link. Replace links with the files themselves."),
    ("bomb", "dog/bomb.jpg: the entry expands more than 200 times its compressed size (a zip bomb). "
             "Nothing was imported; make the archive again from the class folders."),
    ("nested", "dog/more.zip: an archive inside the archive is not opened. Unpack it and put its files in "
               "the class folders instead."),
])
def test_a_hostile_zip_is_rejected_with_its_entry_named_and_nothing_stored(
        storage, settings, new_upload, kind, message):
    upload = new_upload("image", [])
    payload = _stage_archive(storage, upload, _hostile(kind))
    before = {k: v for k, v in stored_objects(storage).items() if not k.startswith("uploads/")}

    result = handle(payload, storage, settings)

    assert result["ok"] is False and result["status"] == 400
    assert [p["message"] for p in result["problems"]] == [message]
    assert get_upload_status(storage, upload.upload_id).state == UploadState.REJECTED
    after = {k: v for k, v in stored_objects(storage).items() if not k.startswith("uploads/")}
    assert after == {k: v for k, v in before.items() if not k.startswith("staging/")}


def test_a_bad_image_inside_the_zip_is_named_by_its_path(storage, settings, new_upload):
    upload = new_upload("image", [])
    data = make_zip({**_photos("cat", 10, 0), **_photos("dog", 10, 50), "dog/notes.jpg": b"not a picture"})

    result = handle(_stage_archive(storage, upload, data), storage, settings)

    assert [p["message"] for p in result["problems"]] == [
        "Class 'dog': dog/notes.jpg: the file is not an image (or not one Teachbox reads: JPEG, PNG, WebP, "
        "GIF, BMP). Choose an image file or remove it."]
    assert storage.list("projects/") == []


def test_a_text_zip_of_one_csv_per_class_becomes_a_text_dataset(storage, settings, new_upload):
    upload = new_upload("text", [])
    rows = {name: "text\n" + "\n".join(f"{name} sentence number {n}" for n in range(100)) + "\n"
            for name in ("happy", "sad")}
    data = make_zip({f"{name}.csv": text.encode() for name, text in rows.items()})

    result = handle(_stage_archive(storage, upload, data, "reviews.zip"), storage, settings)

    assert result["ok"] is True, result
    manifest = load_manifest(storage, upload.project_id, result["dataset_id"])
    assert manifest.class_names == ["happy", "sad"]
    assert len(manifest.samples) == 200


def test_a_downloaded_dataset_imports_again_as_the_same_samples(storage, settings, new_upload):
    first = new_upload("image", [])
    data = make_zip({**_photos("cat", 10, 0), **_photos("dog", 12, 100)})
    original = load_manifest(storage, first.project_id,
                             handle(_stage_archive(storage, first, data), storage, settings)["dataset_id"])
    download = io.BytesIO()
    write_zip(download, dataset_entries(storage, original))

    second = new_upload("image", [])
    result = handle(_stage_archive(storage, second, download.getvalue()), storage, settings)

    assert result["ok"] is True, result
    again = load_manifest(storage, second.project_id, result["dataset_id"])
    assert again.class_names == original.class_names
    assert sorted((s.class_index, s.split, s.sha256) for s in again.samples) == sorted(
        (s.class_index, s.split, s.sha256) for s in original.samples)


def test_a_downloaded_text_dataset_imports_again_as_the_same_rows(storage, settings, new_upload):
    first = new_upload("text", ["calm", "angry"], pasted={
        "0": "\n".join(f'I feel calm, "really", today {n}' for n in range(100)),
        "1": "\n".join(f"Angry; furious\tnumber {n}" for n in range(100))})
    original = load_manifest(storage, first.project_id,
                             handle(first.payload(), storage, settings)["dataset_id"])
    download = io.BytesIO()
    write_zip(download, dataset_entries(storage, original))

    second = new_upload("text", [])
    result = handle(_stage_archive(storage, second, download.getvalue()), storage, settings)

    assert result["ok"] is True, result
    again = load_manifest(storage, second.project_id, result["dataset_id"])
    assert sorted(again.class_names) == sorted(original.class_names)
    assert sorted(s.sha256 for s in again.samples) == sorted(s.sha256 for s in original.samples)
