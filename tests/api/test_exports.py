"""Downloaded exports work as their README says: the README's own code runs the ONNX file and the
TorchScript file on a photo, and both give the label the API's predict gives for that photo."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from tests.api.conftest import World, bearer, shape_png

# Users load the TorchScript download with torch.jit.load, deprecated upstream but working.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

PHOTOS = [("circle", 101), ("square", 102), ("circle", 103), ("square", 104)]


def _download(client: FlaskClient, world: World, name: str, folder: Path) -> Path:
    response = client.get(f"/api/v1/projects/{world.trained.id}/versions/{world.version}/exports/{name}",
                          headers=bearer(world.token), buffered=True)
    assert response.status_code == 200, response.json
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    (folder / name).write_bytes(response.data)
    return folder / name


def _api_label(client: FlaskClient, world: World, photo: bytes) -> str:
    response = client.post(f"/api/v1/projects/{world.trained.id}/predict", headers=bearer(world.token),
                           json={"image_b64": base64.b64encode(photo).decode(), "version": world.version})
    assert response.status_code == 200, response.json
    return response.json["predictions"][0]["label"]


def _run_readme(readme: str, folder: Path, photo: bytes) -> dict:
    """Run the README's Python block in ``folder`` on ``photo`` and its TorchScript line too."""
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    torchscript = re.search(r"TorchScript: `(.*?)`", readme).group(1)
    (folder / "photo.jpg").write_bytes(photo)
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(folder)  # the README names files relative to where they were downloaded
    try:
        exec(code, namespace)  # noqa: S102 - the point is to run the README as a user would
        exec(f"import torch\nscripted = {torchscript}", namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    return namespace


def test_the_readme_runs_the_onnx_and_torchscript_downloads_to_the_apis_labels(
    client: FlaskClient, world: World, tmp_path: Path
) -> None:
    for name in ("model.onnx", "model.torchscript.pt", "classes.txt"):
        _download(client, world, name, tmp_path)
    readme = _download(client, world, "README.md", tmp_path).read_text()
    classes = (tmp_path / "classes.txt").read_text().splitlines()
    assert classes == world.trained.class_names
    for shape, seed in PHOTOS:
        photo = shape_png(shape, seed)
        ran = _run_readme(readme, tmp_path, photo)
        from_onnx = classes[int(np.argmax(ran["probabilities"][0]))]
        from_torchscript = classes[int(ran["scripted"].detach().numpy()[0].argmax())]
        assert from_onnx == from_torchscript == _api_label(client, world, photo), (shape, seed)


def test_the_version_lists_every_export_with_a_working_url(client: FlaskClient, world: World) -> None:
    version = client.get(f"/api/v1/projects/{world.trained.id}/versions/{world.version}",
                         headers=bearer(world.token)).json
    for export in version["exports"]:
        response = client.get(export["url"], headers=bearer(world.token), buffered=True)
        assert response.status_code == 200
        assert len(response.data) == export["size"]
        assert response.mimetype == export["media_type"].split(";")[0]
