"""A third-party backbone plugs in through the ``teachbox.featurizers`` entry point group:
the test package in tests/plugin_pkg is pip-installed into a temporary folder (a fresh clone
builds it the same way), and a fresh process trains and serves a project with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/plugin_pkg installed with pip into its own folder, to put on PYTHONPATH."""
    source = tmp_path_factory.mktemp("plugin-src") / "pkg"
    # Built from a copy: pip's in-tree build would leave build/ and egg-info in the repository.
    shutil.copytree(ROOT / "tests" / "plugin_pkg", source)
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True)
    return site


@pytest.mark.slow
def test_an_installed_plugin_backbone_trains_and_serves_a_project(plugin_site, tmp_path, cache_dir) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(ROOT)])}
    output = subprocess.run(
        [sys.executable, "-m", "tests.models.plugin_run", str(tmp_path / "data"), str(cache_dir)],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["plugins"] == ["colorhist"]
    assert result["state"] == "succeeded"
    assert result["featurizer"]["name"] == "colorhist" and result["featurizer"]["dim"] == 48
    assert result["served_by"] == "ColourHistogram"
    np.testing.assert_allclose(result["served"], result["stored"], atol=1e-5)
    # Downloads need a torch backbone Teachbox knows; the model itself works and says so.
    assert result["metrics"]["exports_error"] == (
        "The model works, but models on 'colorhist' have no downloadable ONNX/TorchScript file; "
        "choose a built-in frozen model to get one.")


def test_without_the_plugin_installed_its_name_is_refused_naming_the_choices() -> None:
    from teachbox.featurizers.catalog import check_featurizer_name

    with pytest.raises(ValueError, match="Unknown model 'colorhist'; choose one of: lite0, lite1, lite2"):
        check_featurizer_name("colorhist", "image")
