"""The web app's data in and out: zip and folder import, example downloads, project export/import."""

from __future__ import annotations

import io
import zipfile

from teachbox.datasets import load_manifest
from teachbox.projects import list_projects
from tests.archives.conftest import make_zip
from tests.webapp.conftest import class_images, csrf_token


def _import(client, kind: str, fields: dict):
    token = csrf_token(client, f"/{kind}/train")
    return client.post(f"/{kind}/import", data={"import-csrf_token": token, "import-project_name": "Colours",
                                                **fields}, content_type="multipart/form-data")


def _zip_of(classes: dict[str, list[tuple[str, bytes]]], top: str = "") -> bytes:
    return make_zip({f"{top}{name}/{filename}": data
                     for name, files in classes.items() for filename, data in files})


def test_the_train_page_offers_a_zip_and_folder_import(client, auth):
    auth.register()

    page = client.get("/image/train").get_data(as_text=True)

    assert 'action="/image/import"' in page
    assert 'name="import-archive"' in page and "webkitdirectory" in page


def test_a_zip_imported_from_the_train_page_becomes_a_project(app, client, auth, projects):
    auth.register()
    data = _zip_of({"red": class_images(0, 10), "blue": class_images(1, 10)}, top="colours/")

    response = _import(client, "image", {"import-archive": (io.BytesIO(data), "colours.zip")})

    status = projects.finished_upload(response)
    assert status.state == "queued", status.problems
    manifest = load_manifest(app.extensions["teachbox"].storage, status.project_id, status.dataset_id)
    assert manifest.class_names == ["blue", "red"]


def test_a_folder_upload_is_grouped_by_its_class_folders(app, client, auth, projects):
    auth.register()
    files = [(io.BytesIO(data), f"colours/{name}/{filename}")
             for name, index in (("red", 0), ("blue", 1)) for filename, data in class_images(index, 10)]
    files.append((io.BytesIO(b"junk"), "colours/red/.DS_Store"))

    status = projects.finished_upload(_import(client, "image", {"import-folder": files}))

    assert status.state == "queued", status.problems
    manifest = load_manifest(app.extensions["teachbox"].storage, status.project_id, status.dataset_id)
    assert manifest.counts() == {"blue": {"train": 8, "val": 2}, "red": {"train": 8, "val": 2}}


def test_a_hostile_zip_comes_back_to_the_train_page_with_the_entry_named(client, auth, projects):
    auth.register()
    data = make_zip({**{f"red/{f}": d for f, d in class_images(0, 10)}, "../../evil.png": b"x"})
    response = _import(client, "image", {"import-archive": (io.BytesIO(data), "a.zip")})

    status = projects.finished_upload(response)

    assert status.state == "rejected"
    page = client.get(f"/image/train?retry={status.upload_id}").get_data(as_text=True)
    assert "../../evil.png: the entry points outside the archive" in page


def test_a_file_that_is_not_a_zip_is_refused_next_to_the_field(client, auth):
    auth.register()

    response = _import(client, "image", {"import-archive": (io.BytesIO(b"hello"), "notes.txt")})

    assert response.status_code == 400
    assert "&#39;notes.txt&#39; is not a .zip file; choose a .zip with one folder per class." in \
        response.get_data(as_text=True)


def test_downloaded_examples_are_laid_out_one_folder_per_class(app, client, auth, projects):
    auth.register()
    status = projects.create_image_project()

    whole = client.get(f"/projects/{status.project_id}/datasets/{status.dataset_id}/download.zip",
                       buffered=True)
    one = client.get(f"/projects/{status.project_id}/datasets/{status.dataset_id}/download.zip?class=1",
                     buffered=True)

    assert whole.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(whole.data)).namelist()
    assert sorted({n.split("/")[0] for n in names}) == ["blue", "red"] and len(names) == 20
    assert {n.split("/")[0] for n in zipfile.ZipFile(io.BytesIO(one.data)).namelist()} == {"blue"}


def test_someone_elses_examples_cannot_be_downloaded(client, auth, projects):
    auth.register()
    status = projects.create_image_project()
    auth.logout()
    auth.register("mallory")

    response = client.get(f"/projects/{status.project_id}/datasets/{status.dataset_id}/download.zip")

    assert response.status_code == 404


def test_an_exported_project_imports_as_a_new_project_of_the_importer(app, client, auth, projects):
    auth.register()
    status = projects.create_image_project(name="Fruit")
    exported = client.get(f"/projects/{status.project_id}/export.zip", buffered=True)
    auth.logout()
    auth.register("bob")

    token = csrf_token(client, "/projects/import")
    response = client.post("/projects/import", data={"csrf_token": token,
                                                     "archive": (io.BytesIO(exported.data), "fruit.zip")},
                           content_type="multipart/form-data")

    [copy] = list_projects(app.extensions["teachbox"].storage, owner="bob")
    assert response.headers["Location"] == f"/projects/{copy.id}"
    assert (copy.name, copy.class_names) == ("Fruit", ["red", "blue"])


def test_importing_something_that_is_not_an_export_says_so(client, auth):
    auth.register()
    token = csrf_token(client, "/projects/import")

    response = client.post("/projects/import", data={"csrf_token": token, "archive": (
        io.BytesIO(make_zip({"red/a.png": b"x"})), "photos.zip")}, content_type="multipart/form-data")

    assert response.status_code == 400
    assert "This is not a Teachbox project export: it has no project.json." in response.get_data(as_text=True)


def test_the_project_page_links_to_its_examples_and_its_export(client, auth, projects):
    auth.register()
    status = projects.create_image_project()

    page = client.get(f"/projects/{status.project_id}").get_data(as_text=True)

    assert f'href="/projects/{status.project_id}/datasets/{status.dataset_id}/download.zip"' in page
    assert f'href="/projects/{status.project_id}/export.zip"' in page
