"""Image uploads: what is snapshotted and queued, and every way a bad upload is refused."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from lambda_preprocess import handle
from teachbox.datasets import load_manifest, load_sample_bytes
from teachbox.jobs import JobStatus, get_job, list_jobs
from teachbox.projects import create_project, load_project
from teachbox.storage import LocalStorage
from teachbox.uploads import UploadState, get_upload_status
from tests.preprocess.corpus import drawn_image, png_declaring


def _refused(storage, upload, settings) -> list[str]:
    """Run the upload, check nothing but its status was stored, return the problem sentences."""
    result = handle(upload.payload(), storage, settings)
    assert result["ok"] is False and result["status"] == 400
    assert storage.list("") == [f"uploads/{upload.upload_id}.json"]
    status = get_upload_status(storage, upload.upload_id)
    assert status.state == UploadState.REJECTED
    assert [p["message"] for p in status.problems] == [p["message"] for p in result["problems"]]
    return [p["message"] for p in status.problems]


def test_image_upload_is_snapshotted_split_and_queued(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 12).add_images(1, 12, first_seed=100)

    result = handle(upload.payload(), storage, settings)

    assert result["ok"] is True
    manifest = load_manifest(storage, upload.project_id, result["dataset_id"])
    assert manifest.counts() == {"cats": {"train": 10, "val": 2}, "dogs": {"train": 10, "val": 2}}
    assert manifest.featurizer == "lite0"
    job = get_job(storage, result["job_id"])
    assert (job.status, job.dataset_id, job.kind) == (JobStatus.QUEUED, result["dataset_id"], "image")
    status = get_upload_status(storage, upload.upload_id)
    assert (status.state, status.job_id, status.dataset_id) == ("queued", job.job_id, result["dataset_id"])
    assert status.progress == {"done": 24, "total": 24}
    assert load_project(storage, upload.project_id).owner == "alice"
    assert storage.list("staging/") == []


def test_stored_images_are_jpegs_with_the_short_side_shrunk(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)

    result = handle(upload.payload(), storage, settings.replace(image_store_side=150))

    manifest = load_manifest(storage, upload.project_id, result["dataset_id"])
    stored = Image.open(io.BytesIO(load_sample_bytes(storage, manifest, manifest.samples[0])))
    assert (stored.format, stored.size) == ("JPEG", (200, 150))


def test_split_is_the_same_whatever_the_upload_order(storage, settings, new_upload):
    def split_of(order_seed: int) -> dict[str, str]:
        seeds = list(range(30))
        random.Random(order_seed).shuffle(seeds)
        upload = new_upload("image", ["a", "b"])
        for seed in seeds:
            upload.add_file(seed % 2, f"{seed}.png", drawn_image(seed, size=(64, 48), fmt="PNG"))
        result = handle(upload.payload(), storage, settings)
        manifest = load_manifest(storage, upload.project_id, result["dataset_id"])
        return {sample.sha256: sample.split for sample in manifest.samples}

    assert split_of(1) == split_of(2)


def test_duplicate_image_in_one_class_is_kept_once_and_noted(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(0, "again.jpg", drawn_image(3))

    result = handle(upload.payload(), storage, settings)

    assert load_manifest(storage, upload.project_id, result["dataset_id"]).counts()["cats"] == {
        "train": 8, "val": 2}
    assert get_upload_status(storage, upload.upload_id).notes == [
        "Class 'cats': kept one of each exact duplicate, skipped 1 duplicate (again.jpg = photo003.jpg)."]


def test_class_names_with_paths_html_and_rtl_text_are_stored_verbatim(storage, settings, new_upload):
    names = ["../../etc/passwd", "<b>dogs</b>", "قطط"]
    upload = new_upload("image", names)
    for index in range(3):
        upload.add_images(index, 10, first_seed=100 * index)

    result = handle(upload.payload(), storage, settings)

    assert result["ok"] is True
    assert load_project(storage, upload.project_id).class_names == names
    assert load_manifest(storage, upload.project_id, result["dataset_id"]).class_names == names


def test_corrupt_jpeg_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(0, "broken.jpg", drawn_image(999)[:2000])

    assert _refused(storage, upload, settings) == [
        "Class 'cats': broken.jpg: the image is damaged or incomplete and could not be decoded. "
        "Export it again or remove it."]


def test_png_declaring_a_huge_size_is_refused_as_a_bomb(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(1, "huge.png", png_declaring(100_000, 100_000))

    assert _refused(storage, upload, settings) == [
        "Class 'dogs': huge.png: the image declares more than 50 megapixels (a possible decompression "
        "bomb). Use a smaller image or remove it."]


def test_text_file_renamed_jpg_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(0, "notes.jpg", b"shopping list: milk, eggs\n")

    assert _refused(storage, upload, settings) == [
        "Class 'cats': notes.jpg: the file is not an image (or not one Teachbox reads: JPEG, PNG, WebP, "
        "GIF, BMP). Choose an image file or remove it."]


def test_zero_byte_image_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(0, "empty.png", b"")

    assert _refused(storage, upload, settings) == [
        "Class 'cats': empty.png: the file is empty (0 bytes). Choose the image again or remove it."]


def test_image_over_the_size_limit_is_refused_with_both_sizes(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(0, "big.bmp", drawn_image(7, size=(400, 300), fmt="BMP"))  # 360 KB

    assert _refused(storage, upload, settings.replace(image_max_bytes=100 * 1024)) == [
        "Class 'cats': big.bmp: the file is 351.6 KB; the limit is 100.0 KB. Use a smaller photo or "
        "remove it."]


def test_nine_images_in_a_class_are_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 9, first_seed=50)

    assert _refused(storage, upload, settings) == [
        "Class 'dogs': 9 images; at least 10 are needed. Add 1 more."]


def test_eleven_classes_are_refused(storage, settings, new_upload):
    upload = new_upload("image", [f"class {n}" for n in range(11)])
    for index in range(11):
        upload.add_file(index, f"{index}.png", drawn_image(index, size=(48, 48), fmt="PNG"))

    assert _refused(storage, upload, settings) == [
        "An image project needs 2 to 10 classes; this one has 11. Remove 1 class."]


def test_same_image_in_two_classes_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.add_file(1, "dup.jpg", drawn_image(4))

    assert _refused(storage, upload, settings) == [
        "Class 'dogs': dup.jpg: the same image is also in class 'cats' (photo004.jpg). "
        "Keep it in one class only."]


def test_every_problem_is_reported_at_once(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "cats"]).add_images(0, 10).add_images(1, 9, first_seed=50)
    upload.add_file(0, "empty.jpg", b"")
    upload.add_file(1, "notes.jpg", b"hello")

    assert _refused(storage, upload, settings) == [
        "Class names: two classes share the name 'cats'.",
        "Class 'cats': empty.jpg: the file is empty (0 bytes). Choose the image again or remove it.",
        "Class 'cats': notes.jpg: the file is not an image (or not one Teachbox reads: JPEG, PNG, WebP, "
        "GIF, BMP). Choose an image file or remove it.",
        "Class 'cats': 9 images; at least 10 are needed. Add 1 more.",
    ]


def test_upload_into_another_owners_project_is_refused(storage, settings, new_upload):
    theirs = create_project(storage, "bob", "Bob's", "image", ["cats", "dogs"])
    upload = new_upload("image", ["cats", "dogs"], project_id=theirs.id)
    upload.add_images(0, 10).add_images(1, 10, first_seed=50)
    before = storage.list("projects/")

    result = handle(upload.payload(), storage, settings)

    assert result["message"] == (
        "This project does not exist or is not yours. Open one of your projects and upload again.")
    assert storage.list("projects/") == before and list_jobs(storage) == []
    assert storage.list("staging/") == []


def test_retrain_merges_new_images_into_a_copy_of_the_base_dataset(storage, settings, new_upload):
    first = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    base_id = handle(first.payload(), storage, settings)["dataset_id"]
    retrain = new_upload("image", ["cats", "dogs"], project_id=first.project_id, base_dataset_id=base_id)
    retrain.add_images(1, 5, first_seed=200)

    result = handle(retrain.payload(), storage, settings)

    manifest = load_manifest(storage, first.project_id, result["dataset_id"])
    assert {name: sum(c.values()) for name, c in manifest.counts().items()} == {"cats": 10, "dogs": 15}
    assert all(load_sample_bytes(storage, manifest, sample) for sample in manifest.samples)


class _ManifestWriteFails(LocalStorage):
    """Storage failing on the manifest write: the unexpected error cannot be made on demand
    with a real folder when tests run as root."""

    def put(self, key: str, data: bytes) -> None:
        if key.endswith("/manifest.json"):
            raise OSError("disk full")
        super().put(key, data)


def test_unexpected_failure_leaves_no_half_written_dataset(settings, new_upload, storage):
    failing = _ManifestWriteFails(storage.root)
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)

    result = handle(upload.payload(), failing, settings)

    assert result["status"] == 500
    assert storage.list("") == [f"uploads/{upload.upload_id}.json"]
    status = get_upload_status(storage, upload.upload_id)
    assert (status.state, status.message) == (
        "error", "Preparing the examples failed on our side; nothing was saved. Please upload again.")


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP"])
def test_every_supported_format_is_accepted(storage, settings, new_upload, fmt):
    upload = new_upload("image", ["a", "b"])
    for seed in range(20):
        upload.add_file(seed % 2, f"{seed}.{fmt.lower()}", drawn_image(seed, size=(64, 48), fmt=fmt))

    assert handle(upload.payload(), storage, settings)["ok"] is True


def test_file_outside_the_uploads_staging_area_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    upload.files[0]["key"] = "projects/0123456789abcdef/project.json"

    result = handle(upload.payload(), storage, settings)

    assert result["message"] == "File 'photo000.jpg' is not part of this upload."
    assert storage.list("") == [f"uploads/{upload.upload_id}.json"]


def test_repeated_event_for_a_queued_upload_queues_nothing_more(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=50)
    first = handle(upload.payload(), storage, settings)

    again = handle(upload.payload(), storage, settings)

    assert (again["ok"], again["job_id"]) == (True, first["job_id"])
    assert [job.job_id for job in list_jobs(storage)] == [first["job_id"]]
    assert get_upload_status(storage, upload.upload_id).state == "queued"


def test_class_without_a_name_is_refused(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "  "]).add_images(0, 10).add_images(1, 10, first_seed=50)

    assert _refused(storage, upload, settings) == ["Class names: class 2 has no name."]
