"""Project API tokens: shown once, stored hashed, scoped to one project, revocable."""

from __future__ import annotations

import json

import pytest

from lambda_infer.cache import TokenCache
from teachbox.errors import BadRequest, NotFound
from teachbox.projects import Project
from teachbox.storage import Storage
from teachbox.tokens import create_token, list_tokens, revoke_token, verify_token


def test_a_new_token_verifies_for_its_project(storage: Storage, image_project: Project) -> None:
    _, secret = create_token(storage, image_project.id, "alice", "my script")

    assert verify_token(storage, image_project.id, secret)


def test_storage_keeps_only_a_hash_of_the_secret(storage: Storage, image_project: Project) -> None:
    token_id, secret = create_token(storage, image_project.id, "alice", "my script")

    stored = storage.get(f"projects/{image_project.id}/tokens/{token_id}.json").decode()

    assert secret not in stored
    assert secret.rsplit("_", 1)[1] not in stored


def test_a_token_does_not_verify_for_another_project(
    storage: Storage, image_project: Project, text_project: Project
) -> None:
    _, secret = create_token(storage, image_project.id, "alice", "my script")

    assert not verify_token(storage, text_project.id, secret)


def test_a_changed_secret_does_not_verify(storage: Storage, image_project: Project) -> None:
    _, secret = create_token(storage, image_project.id, "alice", "my script")
    last = secret[-1]
    tampered = secret[:-1] + ("A" if last != "A" else "B")

    assert not verify_token(storage, image_project.id, tampered)


@pytest.mark.parametrize("secret", ["", "Bearer", "tb_", "tb_../../users_x", "x" * 80])
def test_malformed_secrets_do_not_verify(storage: Storage, image_project: Project, secret: str) -> None:
    assert not verify_token(storage, image_project.id, secret)


def test_a_revoked_token_stops_verifying(storage: Storage, image_project: Project) -> None:
    token_id, secret = create_token(storage, image_project.id, "alice", "my script")

    revoke_token(storage, image_project.id, token_id)

    assert not verify_token(storage, image_project.id, secret)


def test_revoking_an_unknown_token_says_so(storage: Storage, image_project: Project) -> None:
    with pytest.raises(NotFound, match="No such API token in this project; it may already be revoked."):
        revoke_token(storage, image_project.id, "0123456789abcdef")


def test_list_tokens_shows_live_tokens_without_their_hash(storage: Storage, image_project: Project) -> None:
    first, _ = create_token(storage, image_project.id, "alice", "first")
    second, _ = create_token(storage, image_project.id, "alice", "second")
    revoke_token(storage, image_project.id, first)

    listed = [t.to_public_dict() for t in list_tokens(storage, image_project.id)]

    assert [t["token_id"] for t in listed] == [second]
    assert listed[0]["name"] == "second" and listed[0]["owner"] == "alice"
    assert "sha256" not in json.dumps(listed)


def test_a_token_needs_a_name(storage: Storage, image_project: Project) -> None:
    with pytest.raises(BadRequest, match="Give the token a name, such as the program that will use it."):
        create_token(storage, image_project.id, "alice", "  ")

    assert list_tokens(storage, image_project.id) == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_revoked_token_stops_working_in_serving_once_the_refresh_interval_passes(
    storage: Storage, image_project: Project
) -> None:
    clock = FakeClock()
    tokens = TokenCache(ttl_seconds=2.0, clock=clock)
    token_id, secret = create_token(storage, image_project.id, "alice", "my script")
    assert tokens.verify(storage, image_project.id, secret)

    revoke_token(storage, image_project.id, token_id)
    within_interval = tokens.verify(storage, image_project.id, secret)
    clock.now += 2.0
    after_interval = tokens.verify(storage, image_project.id, secret)

    assert (within_interval, after_interval) == (True, False)


def test_serving_rejects_a_wrong_secret_after_the_right_one_was_accepted(
    storage: Storage, image_project: Project
) -> None:
    tokens = TokenCache(ttl_seconds=60.0)
    _, secret = create_token(storage, image_project.id, "alice", "my script")
    assert tokens.verify(storage, image_project.id, secret)

    assert not tokens.verify(storage, image_project.id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
