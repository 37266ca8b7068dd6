"""The Train form: class fields per request, checks before storing, the real preprocess
behind it, problems shown next to their fields with the entries kept, and upload limits."""

from __future__ import annotations

import io
import re

import pytest

from teachbox.datasets import load_manifest
from teachbox.uploads import staging_prefix
from tests.webapp.conftest import AuthActions, class_images, csrf_token, make_image
from webapp import create_app


@pytest.fixture(autouse=True)
def signed_in(auth):
    auth.register("alice")


def _field_block(page: str, name: str) -> str:
    """The HTML of one form_field block, so a test can say what is shown next to a field."""
    start = page.index(f'data-field="{name}"')
    return page[start:page.index("</ul>", start)]


@pytest.mark.parametrize("count", [2, 5, 10])
def test_train_page_renders_as_many_class_fields_as_asked(client, count):
    page = client.get(f"/image/train?num_classes={count}").get_data(as_text=True)
    assert len(re.findall(r'name="class_\d+_name"', page)) == count
    assert len(re.findall(r'<input[^>]*multiple[^>]*name="class_\d+_files"', page)) == count


def test_class_count_is_clamped_to_the_limits(client):
    page = client.get("/text/train?num_classes=40").get_data(as_text=True)
    assert len(re.findall(r'name="class_\d+_name"', page)) == 3


def test_second_step_without_javascript_keeps_the_project_name(client):
    token = csrf_token(client, "/image/train")
    page = client.post("/image/train", data={
        "csrf_token": token, "project_name": "Birds", "num_classes": "4", "resize": "Show class fields",
    }).get_data(as_text=True)
    assert len(re.findall(r'name="class_\d+_name"', page)) == 4
    assert 'value="Birds"' in page
    assert "<li>" not in _field_block(page, "project_name")


def test_too_few_images_are_refused_next_to_the_class_and_nothing_is_stored(projects, storage):
    response = projects.upload_images("Fruit", {"red": class_images(0, 3), "blue": class_images(1, 10)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "&#39;red&#39; has 3 images; add at least 7 more (10-100 per class)." in _field_block(
        page, "class_0_files")
    assert "<li>" not in _field_block(page, "class_1_files")
    assert 'value="Fruit"' in page and 'value="red"' in page
    assert storage.list("staging/") == [] and storage.list("uploads/") == []


def test_duplicate_and_missing_class_names_are_each_shown_next_to_their_field(projects):
    page = projects.upload_images("Fruit", {"Red": class_images(0, 10), "red": class_images(1, 10),
                                            "": class_images(2, 10)}).get_data(as_text=True)
    assert "Class 1 is already called &#39;Red&#39;; give each class its own name." in _field_block(
        page, "class_1_name")
    assert "Name class 3." in _field_block(page, "class_2_name")


def test_form_errors_come_back_as_json_for_the_upload_script(projects):
    response = projects.upload_images("", {"red": class_images(0, 10), "blue": class_images(1, 2)},
                                      headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 400
    fields = response.get_json()["fields"]
    assert fields["project_name"] == ["Give the project a name."]
    assert fields["class_1_files"][0].startswith("'blue' has 2 images")


def test_a_valid_upload_is_staged_checked_by_preprocess_and_queued(client, projects, storage):
    response = projects.upload_images("Fruit", {"red": class_images(0, 10), "blue": class_images(1, 10)})
    assert response.status_code == 302 and "/uploads/" in response.headers["Location"]
    status = projects.finished_upload(response)
    assert status.state == "queued", status.problems
    assert status.owner == "alice"
    polled = client.get(f"/uploads/{status.upload_id}.json").get_json()
    assert polled["state"] == "queued"
    assert polled["next_url"] == f"/projects/{status.project_id}/jobs/{status.job_id}"
    assert client.get(f"/uploads/{status.upload_id}").headers["Location"] == polled["next_url"]
    assert storage.list(staging_prefix(status.upload_id)) == []


def test_the_script_upload_answers_with_the_page_to_poll(projects):
    response = projects.upload_images("Fruit", {"red": class_images(0, 10), "blue": class_images(1, 10)},
                                      headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["page_url"] == f"/uploads/{body['upload_id']}"
    assert body["status_url"] == f"/uploads/{body['upload_id']}.json"


def test_a_rejected_upload_shows_each_problem_next_to_its_field_with_entries_kept(client, projects):
    broken = [("broken.png", b"this is not an image")] + class_images(0, 10)
    response = projects.upload_images("Fruit <b>", {"red": broken, "blue": class_images(1, 10)})
    status = projects.finished_upload(response)
    assert status.state == "rejected"
    next_url = client.get(f"/uploads/{status.upload_id}.json").get_json()["next_url"]
    assert next_url == f"/image/train?retry={status.upload_id}"
    page = client.get(next_url).get_data(as_text=True)
    block = _field_block(page, "class_0_files")
    assert "broken.png" in block
    assert "Choose these 11 files again (browsers cannot keep chosen files)" in block
    assert "<li>" not in _field_block(page, "class_1_files")
    assert 'value="Fruit &lt;b&gt;"' in page and 'value="red"' in page and 'value="blue"' in page


def test_the_largest_allowed_upload_goes_through_the_real_form(projects, storage):
    classes = {f"class{i}": class_images(i, 100) for i in range(10)}
    response = projects.upload_images("Ten by a hundred", classes)
    assert response.status_code == 302
    status = projects.finished_upload(response)
    assert status.state == "queued", status.problems[:3]
    manifest = load_manifest(storage, status.project_id, status.dataset_id)
    assert len(manifest.samples) == 1000


def test_an_upload_over_the_byte_limit_is_refused_with_413_and_a_sentence(settings):
    small = create_app(settings.replace(max_upload_bytes=50_000)).test_client()
    AuthActions(small).register("bob")
    token = csrf_token(small, "/image/train")
    response = small.post("/image/train", content_type="multipart/form-data", data={
        "csrf_token": token, "project_name": "Big", "num_classes": "2",
        "class_0_files": [(io.BytesIO(b"x" * 60_000), "big.png")],
    })
    assert response.status_code == 413
    assert "This upload is too large: one upload may hold at most" in response.get_data(as_text=True)


def test_an_upload_with_too_many_files_is_refused_with_413(client):
    token = csrf_token(client, "/image/train")
    image = make_image(1, (200, 0, 0))
    response = client.post("/image/train", content_type="multipart/form-data", data={
        "csrf_token": token, "project_name": "Many", "num_classes": "2",
        "class_0_files": [(io.BytesIO(image), f"{n}.png") for n in range(1300)],
    }, headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"
