"""The Train form's model choice and the Compare page, on a real app, preprocess and trainer."""

from __future__ import annotations

import io
import re

from teachbox.bundles import current_version, list_versions
from teachbox.jobs import get_job, list_project_jobs
from teachbox.projects import load_project
from tests.webapp.conftest import ProjectActions, class_images, csrf_token
from trainer.worker import Worker


def _train_all(app) -> None:
    services = app.extensions["teachbox"]
    Worker(services.storage, services.settings, export=False).work(burst=True)


def test_the_train_form_offers_each_model_with_its_measured_time_fast_one_chosen(client, auth) -> None:
    auth.register()
    page = client.get("/image/train?num_classes=2").get_data(as_text=True)
    options = re.findall(r'<input[^>]*name="model"[^>]*value="([^"]+)"', page)
    assert options == ["lite0", "lite1", "lite2"]
    assert re.search(r'<input[^>]*checked[^>]*value="lite0"|<input[^>]*value="lite0"[^>]*checked', page)
    assert "Balanced (about" in page and "s to train" in page and "measured 20" in page


def test_the_model_chosen_on_the_train_form_is_the_one_the_job_trains_with(
    app, client, auth, projects: ProjectActions,
) -> None:
    auth.register()
    token = csrf_token(client, "/image/train?num_classes=2")
    data = {"csrf_token": token, "project_name": "Colours", "num_classes": "2", "model": "lite1",
            "submit": "Upload and train", "class_0_name": "red", "class_1_name": "blue",
            "class_0_files": [(io.BytesIO(b), n) for n, b in class_images(0, 10)],
            "class_1_files": [(io.BytesIO(b), n) for n, b in class_images(1, 10)]}
    status = projects.finished_upload(client.post("/image/train", data=data,
                                                  content_type="multipart/form-data"))
    assert status.state == "queued", status.problems
    assert get_job(app.extensions["teachbox"].storage, status.job_id).featurizer == "lite1"


def test_compare_trains_another_model_beside_the_current_one_and_either_can_be_made_current(
    app, client, auth, projects: ProjectActions,
) -> None:
    storage = app.extensions["teachbox"].storage
    auth.register()
    status = projects.create_image_project("Colours", per_class=10)
    _train_all(app)
    project = f"/projects/{status.project_id}"
    token = csrf_token(client, f"{project}/compare")
    response = client.post(f"{project}/compare", data={"csrf_token": token, "model": "lite2"})
    assert response.status_code == 302
    assert list_project_jobs(storage, status.project_id)[0].featurizer == "lite2"
    _train_all(app)

    assert current_version(storage, status.project_id) == "v1"
    job = list_project_jobs(storage, status.project_id)[0]
    finished = client.get(f"{project}/jobs/{job.job_id}.json").get_json()
    assert finished["next_url"] == f"{project}/compare"
    page = client.get(f"{project}/compare").get_data(as_text=True)
    assert 'id="compare-v1"' in page and 'id="compare-v2"' in page
    assert "Fast (lite0)" in page and "Accurate (lite2)" in page
    assert page.count('aria-label="Confusion matrix of') == 2
    assert len(re.findall(r'class="training-time">\d+\.\d s<', page)) == 2
    assert "Make v2 current" in page and "Make v1 current" not in page

    client.post(f"{project}/promote", data={"csrf_token": token, "version": "v2"})
    assert current_version(storage, status.project_id) == "v2"
    # Retrain now continues with the chosen model.
    assert load_project(storage, status.project_id).featurizer == "lite2"
    assert [m.featurizer["name"] for m in list_versions(storage, status.project_id)] == ["lite0", "lite2"]


def test_compare_of_an_unknown_version_is_not_found(client, auth, projects: ProjectActions) -> None:
    auth.register()
    status = projects.create_image_project("Colours", per_class=10)
    assert client.get(f"/projects/{status.project_id}/compare?a=v7").status_code == 404
