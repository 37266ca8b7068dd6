"""``teachbox project export`` and ``teachbox project import`` on a real storage folder."""

from __future__ import annotations

from lambda_preprocess import handle
from teachbox.cli import main
from teachbox.datasets import load_manifest
from teachbox.projects import list_projects
from teachbox.users import create_user


def test_export_then_import_on_the_command_line_gives_a_copy_for_the_new_owner(
        storage, settings, new_upload, tmp_path, monkeypatch, capsys):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=100)
    dataset_id = handle(upload.payload(), storage, settings)["dataset_id"]
    monkeypatch.setenv("TEACHBOX_STORAGE", settings.storage)
    create_user(storage, "bob", "correct-horse")
    target = tmp_path / "shapes.zip"

    assert main(["project", "export", upload.project_id, str(target)]) == 0
    assert main(["project", "import", str(target), "--owner", "bob"]) == 0

    [copy] = list_projects(storage, owner="bob")
    assert f"as project {copy.id}, owned by bob." in capsys.readouterr().out
    assert [s.sha256 for s in load_manifest(storage, copy.id, dataset_id).samples] == [
        s.sha256 for s in load_manifest(storage, upload.project_id, dataset_id).samples]


def test_importing_for_an_unknown_owner_is_refused(tmp_path, settings, monkeypatch, capsys):
    monkeypatch.setenv("TEACHBOX_STORAGE", settings.storage)

    assert main(["project", "import", str(tmp_path / "any.zip"), "--owner", "nobody"]) == 1
    assert capsys.readouterr().err == (
        "teachbox: There is no user 'nobody'; create it first (teachbox user create nobody).\n")


def test_importing_a_file_that_is_not_an_export_fails_with_the_reason(
        storage, tmp_path, settings, monkeypatch, capsys):
    monkeypatch.setenv("TEACHBOX_STORAGE", settings.storage)
    create_user(storage, "bob", "correct-horse")
    bogus = tmp_path / "notes.zip"
    bogus.write_bytes(b"hello")

    assert main(["project", "import", str(bogus), "--owner", "bob"]) == 1
    assert "the file is not a zip archive, or it is damaged" in capsys.readouterr().err
