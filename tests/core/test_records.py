"""Settings, projects, users and model bundles."""

from __future__ import annotations

import pytest

from teachbox.bundles import (
    ModelMeta,
    current_version,
    list_versions,
    load_model_meta,
    promote_model,
    reserve_version,
    write_bundle,
)
from teachbox.errors import BadRequest, Conflict, NotFound, Problem, ValidationFailed, error_from_payload
from teachbox.projects import create_project, list_projects, load_project
from teachbox.settings import SettingsError, load_settings
from teachbox.storage import Storage
from teachbox.users import authenticate, create_user


def test_settings_are_read_from_teachbox_variables() -> None:
    settings = load_settings(env={"TEACHBOX_PORT": "9000", "TEACHBOX_STORAGE": "s3://b/p"})
    assert settings.port == 9000 and settings.is_aws


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEACHBOX_PORT": "eighty"}, "TEACHBOX_PORT='eighty' is not a valid int"),
        ({"TEACHBOX_STORAGE": "/tmp/x"}, "must start with file:// or s3://"),
        ({"TEACHBOX_INVOKER": "carrier-pigeon"}, "use 'local' or 'lambda'"),
        ({"TEACHBOX_LEASE_SECONDS": "-1"}, "must not be negative"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_projects_are_listed_per_owner(any_storage: Storage) -> None:
    mine = create_project(any_storage, "ann", "Cats", "image", ["cat", "dog"])
    create_project(any_storage, "bob", "Mail", "text", ["spam", "ham"])
    assert [p.id for p in list_projects(any_storage, "ann")] == [mine.id]
    assert load_project(any_storage, mine.id).class_names == ["cat", "dog"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["cat", " "], "class 2 has no name"),
        (["Cat", "cat"], "two classes share the name 'Cat', 'cat'"),
        (["a\u202eb", "c"], "class 1 name contains control or direction characters"),
    ],
)
def test_bad_class_names_are_refused(any_storage: Storage, names: list[str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        create_project(any_storage, "ann", "P", "image", names)


def test_class_names_with_paths_and_html_are_plain_labels(any_storage: Storage) -> None:
    project = create_project(any_storage, "ann", "P", "image", ["../etc", "<b>bold</b>"])
    assert load_project(any_storage, project.id).class_names == ["../etc", "<b>bold</b>"]
    assert all(".." not in key for key in any_storage.list(""))


def test_unknown_project_ids_are_not_found(any_storage: Storage) -> None:
    for project_id in ("0123456789abcdef", "../../etc", ""):
        with pytest.raises(NotFound, match="No such project."):
            load_project(any_storage, project_id)


def test_passwords_are_hashed_and_checked(any_storage: Storage) -> None:
    create_user(any_storage, "ann", "correct horse")
    stored = any_storage.get("users/ann.json").decode()
    assert "correct horse" not in stored
    assert authenticate(any_storage, "ann", "correct horse").username == "ann"
    assert authenticate(any_storage, "ann", "wrong password") is None
    assert authenticate(any_storage, "nobody", "correct horse") is None


def test_a_taken_username_is_refused(any_storage: Storage) -> None:
    create_user(any_storage, "ann", "correct horse")
    with pytest.raises(Conflict, match="The username 'ann' is taken"):
        create_user(any_storage, "ANN", "another password")


def _meta(version: str) -> ModelMeta:
    return ModelMeta(version=version, project_id="p" * 16, kind="image", class_names=["a", "b"],
                     featurizer={"name": "lite0"}, head={"type": "linear"}, dataset_id="d1")


def test_versions_are_reserved_once_each(any_storage: Storage) -> None:
    assert [reserve_version(any_storage, "p" * 16) for _ in range(3)] == ["v1", "v2", "v3"]


def test_a_bundle_without_model_json_is_invisible(any_storage: Storage) -> None:
    any_storage.put("projects/" + "p" * 16 + "/models/v1/head.npz", b"half written")
    assert list_versions(any_storage, "p" * 16) == []
    write_bundle(any_storage, _meta("v2"), {"head.npz": b"weights"})
    assert [m.version for m in list_versions(any_storage, "p" * 16)] == ["v2"]
    assert load_model_meta(any_storage, "p" * 16, "v2").files == ["head.npz"]


def test_promotion_moves_current_and_refuses_a_missing_version(any_storage: Storage) -> None:
    write_bundle(any_storage, _meta("v1"), {})
    assert current_version(any_storage, "p" * 16) is None
    promote_model(any_storage, "p" * 16, "v1")
    assert current_version(any_storage, "p" * 16) == "v1"
    with pytest.raises(NotFound, match="No model version 'v7'"):
        promote_model(any_storage, "p" * 16, "v7")
    assert current_version(any_storage, "p" * 16) == "v1"


def test_validation_errors_survive_a_lambda_round_trip() -> None:
    error = ValidationFailed([
        Problem(field="class_0_files", class_name="cat", item="a.jpg", reason="is not an image",
                fix="Upload a JPEG or PNG."),
        Problem(field="classes", reason="Only 1 class was given", fix="Add at least 2."),
    ])
    back = error_from_payload({"ok": False, **error.to_dict()})
    assert isinstance(back, ValidationFailed)
    assert back.problems == error.problems
    assert back.message == "Class 'cat': a.jpg: is not an image. Upload a JPEG or PNG. (and 1 more problem)"
