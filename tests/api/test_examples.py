"""A program builds a project through the API: create it signed in, add examples per class with
a token, follow the upload to its job; a new class name in an upload adds the class."""

from __future__ import annotations

import io

from flask.testing import FlaskClient

from teachbox.datasets import load_manifest
from teachbox.feedback import add_pending
from teachbox.jobs import list_project_jobs
from teachbox.projects import load_project
from tests.api.conftest import SignedIn, World, bearer, shape_png


def _images(field: str, shape: str, count: int, seed: int) -> list[tuple[str, tuple]]:
    return [(field, (io.BytesIO(shape_png(shape, seed + n)), f"{shape}{n}.png")) for n in range(count)]


def _upload(client: FlaskClient, world: World, project_id: str, token: str, parts: list) -> dict:
    data: dict = {}
    for field, value in parts:
        data.setdefault(field, []).append(value)
    accepted = client.post(f"/api/v1/projects/{project_id}/examples", headers=bearer(token), data=data,
                           content_type="multipart/form-data")
    assert accepted.status_code == 202, accepted.json
    world.app.extensions["teachbox"].invoker.wait(timeout=120)
    return client.get(accepted.json["status_url"], headers=bearer(token)).json


def _class_totals(world: World, project_id: str) -> dict[str, int]:
    """Examples per class in the dataset of the project's newest job."""
    dataset_id = list_project_jobs(world.storage, project_id)[0].dataset_id
    counts = load_manifest(world.storage, project_id, dataset_id).counts()
    return {name: sum(split.values()) for name, split in counts.items()}


def _shapes(*specs: tuple[str, int]) -> list[tuple[str, tuple]]:
    return [part for shape, seed in specs for part in _images(f"examples[{shape}]", shape, 10, seed)]


def _new_project_with_token(world: World, alice: SignedIn) -> tuple[str, str]:
    created = alice.client.post("/api/v1/projects", headers=alice.headers(),
                                json={"name": "Blocks", "kind": "image", "class_names": ["circle", "square"]})
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/api/v1/projects/{created.json['id']}")
    token = alice.client.post(f"/api/v1/projects/{created.json['id']}/tokens", headers=alice.headers(),
                              json={"name": "uploader"})
    return created.json["id"], token.json["secret"]


def test_examples_of_a_new_project_become_its_first_dataset_and_a_queued_job(
    world: World, alice: SignedIn
) -> None:
    project_id, token = _new_project_with_token(world, alice)
    status = _upload(alice.client, world, project_id, token, _shapes(("circle", 600), ("square", 700)))
    assert status["state"] == "queued", status
    job = alice.client.get(status["job_url"], headers=bearer(token)).json
    assert job["state"] == "queued"
    assert _class_totals(world, project_id) == {"circle": 10, "square": 10}


def test_an_upload_naming_a_new_class_adds_it_and_keeps_the_earlier_examples(
    world: World, alice: SignedIn
) -> None:
    project_id, token = _new_project_with_token(world, alice)
    _upload(alice.client, world, project_id, token, _shapes(("circle", 800), ("square", 900)))
    status = _upload(alice.client, world, project_id, token, _shapes(("triangle", 1000)))
    assert status["state"] == "queued", status
    assert load_project(world.storage, project_id).class_names == ["circle", "square", "triangle"]
    assert _class_totals(world, project_id) == {"circle": 10, "square": 10, "triangle": 10}


def test_an_admin_session_may_use_anyones_project(world: World, admin: SignedIn) -> None:
    response = admin.client.get(f"/api/v1/projects/{world.trained.id}")
    assert response.status_code == 200
    assert response.json["owner"] == "alice"


def test_train_takes_in_the_pending_examples_from_the_inference_page(world: World, alice: SignedIn) -> None:
    project_id, token = _new_project_with_token(world, alice)
    _upload(alice.client, world, project_id, token, _shapes(("circle", 1100), ("square", 1200)))
    add_pending(world.storage, world.settings, load_project(world.storage, project_id), 0,
                image=shape_png("circle", 1300))
    started = alice.client.post(f"/api/v1/projects/{project_id}/train", headers=bearer(token))
    assert started.status_code == 202
    assert started.json["state"] == "validating" and started.json["job_id"] is None
    world.app.extensions["teachbox"].invoker.wait(timeout=120)
    upload = alice.client.get(started.json["status_url"], headers=bearer(token)).json
    assert upload["state"] == "queued", upload
    assert _class_totals(world, project_id) == {"circle": 11, "square": 10}


def test_train_without_pending_examples_queues_a_job_on_the_latest_dataset(
    world: World, alice: SignedIn
) -> None:
    project_id, token = _new_project_with_token(world, alice)
    first = _upload(alice.client, world, project_id, token, _shapes(("circle", 1400), ("square", 1500)))
    started = alice.client.post(f"/api/v1/projects/{project_id}/train", headers=bearer(token))
    assert started.status_code == 202
    assert started.json["state"] == "queued" and started.json["upload_id"] is None
    job = alice.client.get(started.json["status_url"], headers=bearer(token)).json
    assert job["job_id"] != first["job_id"]
    assert _class_totals(world, project_id) == {"circle": 10, "square": 10}
