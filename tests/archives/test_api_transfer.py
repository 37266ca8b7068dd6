"""The REST API's data in and out: examples from a zip, the whole project as a zip."""

from __future__ import annotations

import io

from teachbox.datasets import load_manifest
from teachbox.project_export import import_project
from teachbox.tokens import create_token
from teachbox.uploads import get_upload_status
from tests.archives.conftest import make_zip
from tests.webapp.conftest import class_images


def _token(app, project_id: str) -> dict:
    _, secret = create_token(app.extensions["teachbox"].storage, project_id, "alice", "ci")
    return {"Authorization": f"Bearer {secret}"}


def test_a_zip_posted_to_the_api_adds_its_class_folders_to_the_project(app, client, auth, projects):
    auth.register()
    project_id = projects.create_image_project().project_id
    auth.logout()
    archive = make_zip({f"green/{name}": data for name, data in class_images(2, 10)})

    response = client.post(f"/api/v1/projects/{project_id}/examples/archive", headers=_token(app, project_id),
                           data={"archive": (io.BytesIO(archive), "green.zip")},
                           content_type="multipart/form-data")

    assert response.status_code == 202
    app.extensions["teachbox"].invoker.wait(timeout=120)
    storage = app.extensions["teachbox"].storage
    status = get_upload_status(storage, response.json["upload_id"])
    assert status.state == "queued", status.problems
    assert load_manifest(storage, project_id, status.dataset_id).class_names == ["red", "blue", "green"]


def test_the_api_says_how_to_send_the_zip_when_it_is_missing(app, client, auth, projects):
    auth.register()
    project_id = projects.create_image_project().project_id

    response = client.post(f"/api/v1/projects/{project_id}/examples/archive", headers=_token(app, project_id),
                           data={"file": (io.BytesIO(b"x"), "a.zip")}, content_type="multipart/form-data")

    assert response.status_code == 400
    assert response.json["message"] == ("Send the zip as a multipart/form-data part named 'archive' "
                                        "(curl: -F 'archive=@photos.zip').")


def test_the_api_exports_the_whole_project(app, client, auth, projects):
    auth.register()
    project_id = projects.create_image_project(name="Fruit").project_id

    response = client.get(f"/api/v1/projects/{project_id}/export", headers=_token(app, project_id),
                          buffered=True)

    assert response.mimetype == "application/zip"
    copy = import_project(app.extensions["teachbox"].storage, io.BytesIO(response.data), owner="bob")
    assert (copy.name, copy.owner) == ("Fruit", "bob")
