"""The feedback loop through the Flask client: predict, mark right or correct, see the pending
examples, retrain, and find the corrected input in the new dataset."""

from __future__ import annotations

import base64
import io
import re

import pytest

from teachbox.datasets import load_manifest
from teachbox.feedback import list_pending
from teachbox.projects import load_project
from teachbox.uploads import get_upload_status
from tests.feedback.conftest import read_form
from tests.webapp.conftest import AuthActions, csrf_token, make_image

pytestmark = pytest.mark.slow


def _predict(client, project_id: str, image: bytes) -> str:
    token = csrf_token(client, f"/projects/{project_id}/predict")
    response = client.post(f"/projects/{project_id}/predict", content_type="multipart/form-data",
                           data={"csrf_token": token, "image": (io.BytesIO(image), "probe.png")})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _post_feedback(client, project_id: str, class_index: int, image: bytes):
    token = csrf_token(client, f"/projects/{project_id}")
    return client.post(f"/projects/{project_id}/pending", data={
        "csrf_token": token, "class_index": str(class_index),
        "image_b64": base64.b64encode(image).decode(), "submit": "correct"})


def _retrain(app, client, project_id: str) -> str:
    token = csrf_token(client, f"/projects/{project_id}")
    response = client.post(f"/projects/{project_id}/retrain", data={"csrf_token": token})
    assert response.status_code == 302
    upload_id = response.headers["Location"].rsplit("/", 1)[1]
    app.extensions["teachbox"].invoker.wait(timeout=120)
    client.get(f"/uploads/{upload_id}.json")  # what the upload page polls
    return upload_id


@pytest.fixture(scope="module")
def trained(app, alice, train_all):
    from tests.webapp.conftest import ProjectActions

    status = ProjectActions(app, alice).create_image_project("Trained colours", per_class=10)
    train_all()
    return status


def test_a_prediction_offers_right_and_every_class_to_correct_it(alice, trained):
    page = _predict(alice, trained.project_id, make_image(501, (230, 20, 20)))
    _, right = read_form(page, "feedback-right")
    _, wrong = read_form(page, "feedback-wrong")
    predicted = re.search(r'id="top-label">(\w+)', page)[1]
    assert right["class_index"] == str(["red", "blue"].index(predicted))
    assert right["image_b64"] and right["image_b64"] == wrong["image_b64"]
    assert 'value="0">red</option>' in page and 'value="1">blue</option>' in page


def test_right_keeps_the_input_as_a_pending_example_of_the_predicted_class(alice, trained, app_storage):
    page = _predict(alice, trained.project_id, make_image(502, (20, 20, 230)))
    action, fields = read_form(page, "feedback-right")
    response = alice.post(action, data=fields, follow_redirects=True)
    assert "as a pending example" in response.get_data(as_text=True)
    project = load_project(app_storage, trained.project_id)
    pending = list_pending(app_storage, project)
    assert [(p.class_index, p.ext) for p in pending] == [(int(fields["class_index"]), "jpg")]
    _remove_all(alice, trained.project_id, app_storage)


def _remove_all(client, project_id, app_storage):
    project = load_project(app_storage, project_id)
    for example in list_pending(app_storage, project):
        token = csrf_token(client, f"/projects/{project_id}")
        client.post(f"/projects/{project_id}/pending/{example.class_index}/{example.sha256}/remove",
                    data={"csrf_token": token})
    assert list_pending(app_storage, project) == []


def test_predict_correct_retrain_puts_the_input_in_the_new_dataset_and_clears_pending(
        app, alice, trained, app_storage):
    page = _predict(alice, trained.project_id, make_image(503, (230, 20, 20)))
    predicted = re.search(r'id="top-label">(\w+)', page)[1]
    corrected = 1 - ["red", "blue"].index(predicted)
    action, fields = read_form(page, "feedback-wrong")
    alice.post(action, data={**fields, "class_index": str(corrected)})

    project_page = alice.get(f"/projects/{trained.project_id}").get_data(as_text=True)
    assert f'data-pending-count="{corrected}">1<' in project_page
    assert "Retrain with 1 pending example" in project_page
    project = load_project(app_storage, trained.project_id)
    [pending] = list_pending(app_storage, project)

    upload_id = _retrain(app, alice, trained.project_id)
    status = get_upload_status(app_storage, upload_id)
    assert status.state == "queued", status.problems
    manifest = load_manifest(app_storage, trained.project_id, status.dataset_id)
    added = [s for s in manifest.samples if s.source.startswith("feedback-")]
    # Pending images are stored normalized, and preprocess keeps such JPEGs byte for byte.
    assert [(s.class_index, s.sha256) for s in added] == [(corrected, pending.sha256)]
    assert len(manifest.samples) == 21  # the 20 earlier examples are kept
    assert list_pending(app_storage, project) == []
    assert 'id="retrain-pending"' not in alice.get(f"/projects/{trained.project_id}").get_data(as_text=True)


def test_a_rejected_retrain_keeps_the_pending_examples(app, alice, new_project, app_storage):
    status = new_project("Too many")
    for seed in (601, 602):  # 10 + 2 red images: over the limit of 11 per class
        assert _post_feedback(alice, status.project_id, 0, make_image(seed, (230, 20, 20))).status_code == 302
    upload_id = _retrain(app, alice, status.project_id)
    rejected = get_upload_status(app_storage, upload_id)
    assert rejected.state == "rejected"
    assert any("at most 11 are allowed" in p["reason"] for p in rejected.problems)
    assert len(list_pending(app_storage, load_project(app_storage, status.project_id))) == 2
    form_again = alice.get(f"/uploads/{upload_id}", follow_redirects=True).get_data(as_text=True)
    assert "12 images; at most 11 are allowed" in form_again


def test_a_broken_image_is_refused_with_the_upload_sentence_and_nothing_is_stored(
        alice, new_project, app_storage):
    status = new_project("Broken")
    response = _post_feedback(alice, status.project_id, 0, b"not an image at all")
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "This image cannot be added as an example: the file is not an image" in page
    assert app_storage.list(f"projects/{status.project_id}/pending/") == []


def test_a_class_the_project_does_not_have_is_refused_with_the_classes_to_choose(
        alice, new_project, app_storage):
    status = new_project("No such class")
    response = _post_feedback(alice, status.project_id, 7, make_image(901, (230, 20, 20)))
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Choose one of the classes: red, blue." in page
    assert app_storage.list(f"projects/{status.project_id}/pending/") == []


def test_a_pending_image_is_shown_and_can_be_removed(alice, new_project, app_storage):
    status = new_project("Removable")
    _post_feedback(alice, status.project_id, 1, make_image(701, (20, 20, 230)))
    [example] = list_pending(app_storage, load_project(app_storage, status.project_id))
    thumbnail = alice.get(f"/projects/{status.project_id}/pending/1/{example.sha256}")
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    token = csrf_token(alice, f"/projects/{status.project_id}")
    alice.post(f"/projects/{status.project_id}/pending/1/{example.sha256}/remove", data={"csrf_token": token})
    assert list_pending(app_storage, load_project(app_storage, status.project_id)) == []


def test_another_user_gets_404_on_the_pending_routes(app, alice, new_project, app_storage):
    status = new_project("Private")
    _post_feedback(alice, status.project_id, 0, make_image(801, (230, 20, 20)))
    [example] = list_pending(app_storage, load_project(app_storage, status.project_id))
    bob = app.test_client()
    AuthActions(bob).register("bob")
    token = csrf_token(bob, "/")
    base = f"/projects/{status.project_id}/pending"
    assert bob.post(base, data={"csrf_token": token, "class_index": "0"}).status_code == 404
    assert bob.get(f"{base}/0/{example.sha256}").status_code == 404
    assert bob.post(f"{base}/0/{example.sha256}/remove", data={"csrf_token": token}).status_code == 404
    assert len(list_pending(app_storage, load_project(app_storage, status.project_id))) == 1


def _sentences(topic: str, count: int) -> list[str]:
    return [f"the {topic} number {n} was {topic}ish on day {n * 7 % 31}" for n in range(count)]


def test_a_corrected_text_joins_the_new_dataset_in_its_class(app, alice, app_storage, train_all):
    from tests.webapp.conftest import ProjectActions

    actions = ProjectActions(app, alice)
    status = actions.finished_upload(actions.upload_text(
        "Weather", {"sunny": _sentences("sun", 100), "rainy": _sentences("rain", 100)}))
    assert status.state == "queued", status.problems
    train_all()
    token = csrf_token(alice, f"/projects/{status.project_id}/predict")
    page = alice.post(f"/projects/{status.project_id}/predict",
                      data={"csrf_token": token, "text": "  a wet\n grey  morning "}).get_data(as_text=True)
    action, fields = read_form(page, "feedback-wrong")
    assert fields["text"] == "a wet\n grey  morning"
    alice.post(action, data={**fields, "class_index": "1"})
    assert "<q>a wet grey morning</q>" in alice.get(f"/projects/{status.project_id}").get_data(as_text=True)

    upload_id = _retrain(app, alice, status.project_id)
    retrained = get_upload_status(app_storage, upload_id)
    assert retrained.state == "queued", retrained.problems
    manifest = load_manifest(app_storage, status.project_id, retrained.dataset_id)
    assert [(s.class_index, s.text) for s in manifest.samples if s.text == "a wet grey morning"] == \
        [(1, "a wet grey morning")]
    assert list_pending(app_storage, load_project(app_storage, status.project_id)) == []
