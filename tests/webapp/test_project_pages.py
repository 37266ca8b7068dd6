"""Project pages on a really trained model: job status, details with metrics, inference,
retrain and promote; and ownership: another user gets 404 on every project route.

Training takes seconds, so one app and one trained project serve the whole module; tests
that add jobs leave no job queued behind them.
"""

from __future__ import annotations

import io
import re

import pytest

from teachbox.bundles import current_version, list_versions
from teachbox.datasets import load_manifest
from teachbox.jobs import claim_next_job, get_job, list_project_jobs, mark_failed, submit_job
from teachbox.settings import load_settings
from teachbox.storage import LocalStorage
from teachbox.users import create_user
from tests.webapp.conftest import AuthActions, ProjectActions, csrf_token, make_image
from trainer.worker import Worker
from webapp import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory, cache_dir):
    data = tmp_path_factory.mktemp("data")
    settings = load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                             secret_key="test-secret")
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def storage(app) -> LocalStorage:
    return app.extensions["teachbox"].storage


@pytest.fixture(scope="module")
def train_all(app, storage):
    """Run a real trainer in burst mode: it takes every queued job, then returns."""
    return lambda: Worker(storage, app.extensions["teachbox"].settings, export=False).work(burst=True)


@pytest.fixture(scope="module")
def trained(app, train_all):
    """alice's image project (red vs blue), trained for real."""
    alice = app.test_client()
    AuthActions(alice).register("alice")
    status = ProjectActions(app, alice).create_image_project("Colours", per_class=10)
    train_all()
    return status


@pytest.fixture
def client(app, trained):
    client = app.test_client()
    AuthActions(client).login("alice")
    return client


def test_job_status_json_reports_the_finished_job(client, trained):
    body = client.get(f"/projects/{trained.project_id}/jobs/{trained.job_id}.json").get_json()
    assert body["state"] == "succeeded" and body["terminal"] is True
    assert body["progress"]["percent"] == 100
    assert body["model_version"] == "v1"
    assert body["next_url"] == f"/projects/{trained.project_id}/details?version=v1"


def test_a_queued_job_shows_its_queue_position_and_can_be_cancelled(client, trained, storage):
    dataset_id = list_project_jobs(storage, trained.project_id)[0].dataset_id
    jobs = [submit_job(storage, trained.project_id, dataset_id, "image") for _ in range(2)]
    positions = [client.get(f"/projects/{trained.project_id}/jobs/{job.job_id}.json").get_json()
                 for job in jobs]
    assert [(p["state"], p["queue_position"]) for p in positions] == [("queued", 0), ("queued", 1)]
    for job in jobs:
        page = f"/projects/{trained.project_id}/jobs/{job.job_id}"
        client.post(f"{page}/cancel", data={"csrf_token": csrf_token(client, page)})
        assert get_job(storage, job.job_id).state == "cancelled"


def test_a_failed_job_shows_its_reason(client, trained, storage):
    dataset_id = list_project_jobs(storage, trained.project_id)[0].dataset_id
    job = submit_job(storage, trained.project_id, dataset_id, "image")
    claim = claim_next_job(storage, "test-trainer")
    assert claim is not None and claim.job.job_id == job.job_id
    mark_failed(storage, claim, "Class 'red' has no readable images left.", retry=False)
    page = f"/projects/{trained.project_id}/jobs/{job.job_id}"
    body = client.get(f"{page}.json").get_json()
    assert (body["state"], body["terminal"], body["next_url"]) == ("failed", True, "")
    assert body["error"] == "Class 'red' has no readable images left."
    assert "Class &#39;red&#39; has no readable images left." in client.get(page).get_data(as_text=True)


def test_details_show_classes_counts_metrics_heatmap_and_curves(client, trained):
    page = client.get(f"/projects/{trained.project_id}/details").get_data(as_text=True)
    assert "Colours: model v1" in page
    assert re.search(r'id="accuracy">\d+\.\d%<', page)
    per_class = page[page.index('id="per-class"'):page.index("</table>", page.index('id="per-class"'))]
    assert "<td>red</td>" in per_class and "<td>blue</td>" in per_class
    heatmap = page[page.index('id="confusion"'):page.index("</svg>", page.index('id="confusion"'))]
    assert heatmap.count("<rect") == 4
    assert page.count('<polyline class="series') == 4


def test_dataset_images_are_served_to_the_owner_by_hash(client, trained, storage):
    dataset_id = list_project_jobs(storage, trained.project_id)[0].dataset_id
    sample = load_manifest(storage, trained.project_id, dataset_id).split("val")[0]
    url = f"/projects/{trained.project_id}/datasets/{dataset_id}/samples/{sample.sha256}"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype.startswith("image/")
    assert client.get(url.replace(sample.sha256, "0" * 64)).status_code == 404


def test_predict_an_uploaded_image_shows_top_labels_with_bars(client, trained):
    token = csrf_token(client, f"/projects/{trained.project_id}/predict")
    response = client.post(f"/projects/{trained.project_id}/predict", content_type="multipart/form-data",
                           data={"csrf_token": token,
                                 "image": (io.BytesIO(make_image(99, (220, 30, 30))), "probe.png")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="top-label">red <span', page)
    assert page.count("<meter") == 2


def test_predict_without_an_image_says_what_to_do(client, trained):
    token = csrf_token(client, f"/projects/{trained.project_id}/predict")
    response = client.post(f"/projects/{trained.project_id}/predict", data={"csrf_token": token})
    assert response.status_code == 400
    assert "Choose an image, drop one here, or take a webcam snapshot." in response.get_data(as_text=True)


def test_predict_a_broken_image_shows_the_inference_message(client, trained):
    token = csrf_token(client, f"/projects/{trained.project_id}/predict")
    response = client.post(f"/projects/{trained.project_id}/predict", content_type="multipart/form-data",
                           data={"csrf_token": token, "image": (io.BytesIO(b"not an image"), "x.png")})
    assert response.status_code == 400
    assert 'id="predict-error"' in response.get_data(as_text=True)


def test_retrain_makes_a_new_version_and_an_older_one_can_be_promoted(client, trained, storage, train_all):
    project_id = trained.project_id
    response = client.post(f"/projects/{project_id}/retrain",
                           data={"csrf_token": csrf_token(client, f"/projects/{project_id}")})
    assert "/jobs/" in response.headers["Location"]
    train_all()
    newest = list_versions(storage, project_id)[-1].version
    assert newest != "v1" and current_version(storage, project_id) == newest
    client.post(f"/projects/{project_id}/promote",
                data={"csrf_token": csrf_token(client, f"/projects/{project_id}"), "version": "v1"})
    assert current_version(storage, project_id) == "v1"


def test_adding_examples_keeps_the_earlier_ones_and_trains_a_new_version(app, client, trained, storage,
                                                                       train_all):
    form_page = client.get(f"/image/train?project={trained.project_id}").get_data(as_text=True)
    assert 'value="Colours"' in form_page and 'value="red"' in form_page and 'value="blue"' in form_page
    token = csrf_token(client, f"/image/train?project={trained.project_id}")
    more = [(io.BytesIO(make_image(5000 + n, (220, 30, 30))), f"more{n}.png") for n in range(3)]
    response = client.post("/image/train", content_type="multipart/form-data", data={
        "csrf_token": token, "project": trained.project_id, "project_name": "Colours", "num_classes": "2",
        "class_0_name": "red", "class_1_name": "blue",
        "class_0_files": more,
    })
    status = ProjectActions(app, client).finished_upload(response)
    assert status.state == "queued", status.problems
    assert status.project_id == trained.project_id
    counts = load_manifest(storage, trained.project_id, status.dataset_id).counts()
    assert sum(counts["red"].values()) == 13 and sum(counts["blue"].values()) == 10
    train_all()
    assert get_job(storage, status.job_id).state == "succeeded"


OWNER_ROUTES = [
    ("get", "/image/train?project={p}"),
    ("post", "/image/train?project={p}"),
    ("get", "/projects/{p}"),
    ("get", "/projects/{p}/details"),
    ("get", "/projects/{p}/details?version=v1"),
    ("get", "/projects/{p}/predict"),
    ("post", "/projects/{p}/predict"),
    ("get", "/projects/{p}/jobs/{j}"),
    ("get", "/projects/{p}/jobs/{j}.json"),
    ("post", "/projects/{p}/jobs/{j}/cancel"),
    ("post", "/projects/{p}/retrain"),
    ("post", "/projects/{p}/promote"),
    ("get", "/projects/{p}/datasets/{d}/samples/{s}"),
    ("get", "/uploads/{u}"),
    ("get", "/uploads/{u}.json"),
]


@pytest.fixture
def alices_paths(trained, storage):
    dataset_id = list_project_jobs(storage, trained.project_id)[0].dataset_id
    sample = load_manifest(storage, trained.project_id, dataset_id).samples[0]
    return {"p": trained.project_id, "j": trained.job_id, "d": dataset_id, "s": sample.sha256,
            "u": trained.upload_id}


@pytest.fixture(scope="module")
def bob(app):
    bob = app.test_client()
    AuthActions(bob).register("bob")
    return bob


@pytest.mark.parametrize(("method", "path"), OWNER_ROUTES)
def test_another_user_gets_404_on_every_project_route(bob, alices_paths, method, path):
    token = csrf_token(bob, "/")
    url = path.format(**alices_paths)
    response = getattr(bob, method)(url, data={"csrf_token": token, "version": "v1"})
    assert response.status_code == 404, url


@pytest.mark.parametrize(("method", "path"), [r for r in OWNER_ROUTES if r[0] == "get"])
def test_an_admin_sees_every_project(app, alices_paths, storage, method, path):
    if not storage.exists("users/root.json"):
        create_user(storage, "root", "correct-horse", is_admin=True)
    admin = app.test_client()
    AuthActions(admin).login("root")
    url = path.format(**alices_paths)
    assert admin.get(url).status_code in (200, 302), url
