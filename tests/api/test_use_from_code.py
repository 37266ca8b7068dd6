"""The project page's 'Use from code' section: tokens made and revoked there (the secret shown
once, stored only hashed), curl examples with the real address and id, export download links."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from teachbox.tokens import list_tokens
from tests.api.conftest import SignedIn, World, bearer
from tests.webapp.conftest import csrf_token


def _page(signed_in: SignedIn, world: World) -> str:
    return signed_in.client.get(f"/projects/{world.trained.id}").get_data(as_text=True)


def _create(signed_in: SignedIn, world: World, name: str):
    token = csrf_token(signed_in.client, f"/projects/{world.trained.id}")
    return signed_in.client.post(f"/projects/{world.trained.id}/tokens",
                                 data={"csrf_token": token, "name": name})


def _secret(page: str) -> str:
    return html.unescape(re.search(r'<code id="token-secret">(.*?)</code>', page).group(1))


def test_the_project_page_prints_curl_with_this_sites_address_and_the_project_id(
    world: World, alice: SignedIn
) -> None:
    page = html.unescape(_page(alice, world))
    assert f"http://localhost/api/v1/projects/{world.trained.id}/predict" in page
    assert '-H "Authorization: Bearer $TEACHBOX_TOKEN" -F \'image=@photo.jpg\'' in page


def test_the_project_page_links_every_export_of_the_current_version(world: World, alice: SignedIn) -> None:
    page = _page(alice, world)
    for name in ("model.onnx", "model.torchscript.pt", "classes.txt", "README.md"):
        assert f'/api/v1/projects/{world.trained.id}/versions/{world.version}/exports/{name}"' in page


def test_a_new_token_is_shown_once_and_stored_only_as_its_hash(world: World, alice: SignedIn) -> None:
    created = _create(alice, world, "nightly job")
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    secret = _secret(created.get_data(as_text=True))
    assert alice.client.get(f"/api/v1/projects/{world.trained.id}", headers=bearer(secret)).status_code == 200
    assert secret not in _page(alice, world)
    token_id = secret.split("_")[1]
    assert secret not in world.storage.get(f"projects/{world.trained.id}/tokens/{token_id}.json").decode()
    assert "nightly job" in _page(alice, world)


def test_a_token_without_a_name_is_not_created_and_the_page_says_why(world: World, alice: SignedIn) -> None:
    before = len(list_tokens(world.storage, world.trained.id))
    response = _create(alice, world, "   ")
    assert response.status_code == 302
    page = alice.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Give the token a name, such as the program that will use it." in page
    assert len(list_tokens(world.storage, world.trained.id)) == before


def test_another_user_cannot_make_a_token_for_your_project(world: World, bob: SignedIn) -> None:
    token = csrf_token(bob.client, "/")
    response = bob.client.post(f"/projects/{world.trained.id}/tokens",
                               data={"csrf_token": token, "name": "x"})
    assert response.status_code == 404


def test_revoking_on_the_page_removes_the_token_and_refuses_its_secret(world: World, alice: SignedIn) -> None:
    secret = _secret(_create(alice, world, "to revoke").get_data(as_text=True))
    token_id = secret.split("_")[1]
    csrf = csrf_token(alice.client, f"/projects/{world.trained.id}")
    response = alice.client.post(f"/projects/{world.trained.id}/tokens/revoke",
                                 data={"csrf_token": csrf, "token_id": token_id})
    assert response.status_code == 302
    assert f'value="{token_id}"' not in _page(alice, world)
    assert alice.client.get(f"/api/v1/projects/{world.trained.id}",
                            headers=bearer(secret)).status_code == 401


def test_revoking_a_token_that_is_not_there_is_404(world: World, alice: SignedIn) -> None:
    csrf = csrf_token(alice.client, f"/projects/{world.trained.id}")
    response = alice.client.post(f"/projects/{world.trained.id}/tokens/revoke",
                                 data={"csrf_token": csrf, "token_id": "0123456789abcdef"})
    assert response.status_code == 404


def test_a_project_without_a_model_says_exports_come_after_training(world: World, alice: SignedIn) -> None:
    page = alice.client.get(f"/projects/{world.other.id}").get_data(as_text=True)
    assert "Exports appear here once a model is trained." in page


def test_the_openapi_document_is_linked_from_the_section(client: FlaskClient, world: World,
                                                         alice: SignedIn) -> None:
    assert 'href="http://localhost/api/v1/openapi.json"' in _page(alice, world)
