"""The REST API's examples upload chooses the model the project trains with from then on."""

from __future__ import annotations

import io

from teachbox.jobs import list_project_jobs
from teachbox.projects import load_project
from tests.api.conftest import SignedIn, World, bearer, shape_png


def _new_project(alice: SignedIn) -> tuple[str, str]:
    created = alice.client.post("/api/v1/projects", headers=alice.headers(),
                                json={"name": "Blocks", "kind": "image", "class_names": ["circle", "square"]})
    token = alice.client.post(f"/api/v1/projects/{created.json['id']}/tokens", headers=alice.headers(),
                              json={"name": "uploader"})
    return created.json["id"], token.json["secret"]


def _examples(seed: int) -> dict:
    return {f"examples[{shape}]": [(io.BytesIO(shape_png(shape, seed + n)), f"{shape}{n}.png")
                                   for n in range(10)]
            for shape in ("circle", "square")}


def test_examples_sent_with_a_model_train_the_project_with_it(world: World, alice: SignedIn) -> None:
    project_id, token = _new_project(alice)
    accepted = alice.client.post(f"/api/v1/projects/{project_id}/examples", headers=bearer(token),
                                 data={**_examples(3000), "model": "lite2"},
                                 content_type="multipart/form-data")
    assert accepted.status_code == 202, accepted.json
    world.app.extensions["teachbox"].invoker.wait(timeout=120)
    assert list_project_jobs(world.storage, project_id)[0].featurizer == "lite2"
    assert load_project(world.storage, project_id).featurizer == "lite2"


def test_a_text_model_for_an_image_project_is_refused_before_anything_is_staged(
    world: World, alice: SignedIn,
) -> None:
    project_id, token = _new_project(alice)
    staged_before = world.storage.list("staging/")
    refused = alice.client.post(f"/api/v1/projects/{project_id}/examples", headers=bearer(token),
                                data={**_examples(3100), "model": "minilm"},
                                content_type="multipart/form-data")
    assert refused.status_code == 400
    assert refused.json["message"].startswith("Model 'minilm' is for text projects; choose one of: lite0")
    assert world.storage.list("staging/") == staged_before
    assert list_project_jobs(world.storage, project_id) == []
