"""teachbox.exports on folder and S3 storage: a version's exports are offered only once the
trainer has finished writing them (README.md last), and only the known file names; the API
streams them from S3 as from a folder."""

from __future__ import annotations

import pytest

from teachbox.bundles import ModelMeta, bundle_key, write_bundle
from teachbox.errors import NotFound
from teachbox.exports import list_exports, open_export
from teachbox.projects import create_project
from teachbox.settings import load_settings
from teachbox.storage import Storage, new_id
from teachbox.tokens import create_token
from webapp import create_app


def _bundle(storage: Storage, exports: dict[str, bytes]) -> ModelMeta:
    meta = ModelMeta(version="v1", project_id=new_id(), kind="image", class_names=["a", "b"],
                     featurizer={"name": "lite0"}, head={}, dataset_id=new_id())
    write_bundle(storage, meta, {"head.npz": b"weights"})
    for name, data in exports.items():
        storage.put(bundle_key(meta.project_id, "v1", f"exports/{name}"), data)
    return meta


def test_exports_are_listed_with_sizes_once_the_readme_is_written(any_storage: Storage) -> None:
    meta = _bundle(any_storage, {"model.onnx": b"onnx" * 10, "classes.txt": b"a\nb\n", "README.md": b"# r"})
    listed = {f.name: f.size for f in list_exports(any_storage, meta.project_id, "v1")}
    assert listed == {"model.onnx": 40, "classes.txt": 4, "README.md": 3}


def test_exports_still_being_written_are_not_offered(any_storage: Storage) -> None:
    meta = _bundle(any_storage, {"model.onnx": b"onnx"})
    assert list_exports(any_storage, meta.project_id, "v1") == []
    with pytest.raises(NotFound, match="Model v1 has no exports yet; they are written after training."):
        open_export(any_storage, meta.project_id, "v1", "model.onnx")


def test_an_export_streams_its_bytes(any_storage: Storage) -> None:
    meta = _bundle(any_storage, {"classes.txt": b"a\nb\n", "README.md": b"# r"})
    stream, export = open_export(any_storage, meta.project_id, "v1", "classes.txt")
    with stream:
        assert stream.read() == b"a\nb\n"
    assert export.media_type.startswith("text/plain")


@pytest.mark.parametrize("name", ["head.npz", "../model.json", "model.json", ""])
def test_only_export_file_names_can_be_opened(storage: Storage, name: str) -> None:
    meta = _bundle(storage, {"classes.txt": b"a\n", "README.md": b"# r"})
    with pytest.raises(NotFound, match=f"Model v1 has no export called {name!r}; choose one of: "
                                       "classes.txt, README.md."):
        open_export(storage, meta.project_id, "v1", name)


def test_a_version_that_does_not_exist_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound, match="No model version 'v2' in this project."):
        list_exports(storage, new_id(), "v2")


def test_the_api_streams_an_export_from_s3(s3_storage: Storage, moto_endpoint: str, cache_dir) -> None:
    settings = load_settings(env={}, storage=s3_storage.url, s3_endpoint_url=moto_endpoint,
                             cache_dir=str(cache_dir), secret_key="s")
    onnx = bytes(range(256)) * 4000  # 1 MB: several chunks
    meta = _bundle(s3_storage, {"model.onnx": onnx, "README.md": b"# r"})
    create_project(s3_storage, "alice", "On S3", "image", ["a", "b"], project_id=meta.project_id)
    _, token = create_token(s3_storage, meta.project_id, "alice", "ci")
    client = create_app(settings).test_client()
    response = client.get(f"/api/v1/projects/{meta.project_id}/versions/v1/exports/model.onnx",
                          headers={"Authorization": f"Bearer {token}"}, buffered=True)
    assert response.status_code == 200
    assert response.data == onnx
