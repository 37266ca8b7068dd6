"""What ships to Lambda and to the web container: serving without torch, every library the
serving code imports, the backbones baked in where serving looks, non-root web app.

No Docker engine runs here, so the Dockerfiles are read, not built; the preprocess folder is
really assembled and imported."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from teachbox.featurizers import list_featurizers
from tests.deploy.conftest import DEPLOY, render

ROOT = DEPLOY.parent
FIRST_PARTY = {"teachbox", "lambda_infer", "lambda_preprocess", "trainer", "webapp"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions(dockerfile):
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def pip_installs(stage: list[tuple[str, str]]) -> list[tuple[Requirement, bool]]:
    """(requirement, with its dependencies?) for every ``pip install`` the stage runs."""
    found = []
    for kind, arguments in stage:
        if kind != "RUN":
            continue
        for command in arguments.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                with_deps = "--no-deps" not in words
                names = [w for w in words[2:] if not w.startswith("-") and w != "."]
                found += [(Requirement(name), with_deps) for name in names]
    return found


def installed_closure(installs: list[tuple[Requirement, bool]]) -> set[str]:
    """The distributions pip would install (as their metadata reads on this machine)."""
    todo = [(canonicalize_name(r.name), with_deps) for r, with_deps in installs]
    seen: set[str] = set()
    while todo:
        name, with_deps = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = (requires(name) or []) if with_deps else []
        except PackageNotFoundError:  # not installed here: counted, but its own needs are unknown
            continue
        for line in lines:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append((canonicalize_name(requirement.name), True))
    return seen


def loaded_first_party(imports: str, packages_root: Path) -> set[Path]:
    """The first-party files a fresh interpreter loads after running ``imports``."""
    probe = (imports + "\nimport json, sys\n"
             "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=packages_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    packages = [packages_root / name for name in FIRST_PARTY]
    loaded = [Path(f) for f in json.loads(result.stdout) if f]
    return {f for f in loaded if any(f.is_relative_to(p) for p in packages)}


def third_party_imports(files: set[Path]) -> set[str]:
    """Top-level third-party modules the files import anywhere, lazy imports included."""
    names = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in FIRST_PARTY}


def distributions(modules: set[str]) -> set[str]:
    by_module = packages_distributions()
    return {canonicalize_name(by_module[name][0]) for name in modules}


def test_inference_image_serves_without_torch():
    *_, serving = stages(DEPLOY / "Dockerfile.infer")
    assert serving[0] == ("FROM", "public.ecr.aws/lambda/python:3.11")
    installed = installed_closure(pip_installs(serving))
    assert not {"torch", "torchvision", "transformers", "sentence-transformers"} & installed


def test_inference_image_installs_every_library_the_serving_code_imports():
    *_, serving = stages(DEPLOY / "Dockerfile.infer")
    installed = installed_closure(pip_installs(serving))
    # list_featurizers() loads every built-in featurizer module, as serving a model would.
    files = loaded_first_party("import lambda_infer.handler, lambda_infer.service\n"
                               "from teachbox.featurizers import list_featurizers; list_featurizers()", ROOT)
    assert distributions(third_party_imports(files)) - installed == set()


def test_inference_image_bakes_every_backbone_where_serving_looks(resources):
    export, serving = stages(DEPLOY / "Dockerfile.infer")
    exported = " ".join(args for kind, args in export if kind == "RUN")
    cache = render(resources["InferFunction"]["Properties"]["Environment"]["Variables"]["TEACHBOX_CACHE_DIR"])
    for name in list_featurizers():
        assert f"create_featurizer('{name}', '{cache}')" in exported
    assert ("RUN", f"chmod -R a+rX {cache}") in export  # Lambda's user is not the exporter
    assert ("COPY", f"--from=export {cache} {cache}") in serving
    assert ("ENV", f"TEACHBOX_CACHE_DIR={cache}") in serving


def test_inference_image_starts_the_lambda_handler(resources):
    *_, serving = stages(DEPLOY / "Dockerfile.infer")
    assert serving[-1] == ("CMD", '["lambda_infer.handler.handler"]')
    assert resources["InferFunction"]["Metadata"]["Dockerfile"] == "deploy/Dockerfile.infer"


def test_web_image_runs_gunicorn_as_an_unprivileged_user():
    steps = instructions(DEPLOY / "Dockerfile.web")
    users = [args for kind, args in steps if kind == "USER"]
    assert users == ["teachbox"]
    after_user = steps[[kind for kind, _ in steps].index("USER"):]
    assert "RUN" not in [kind for kind, _ in after_user]
    assert steps[-1] == ("CMD", '["gunicorn", "-c", "deploy/gunicorn.conf.py", "webapp.wsgi:app"]')
    assert ("COPY", "deploy/gunicorn.conf.py deploy/gunicorn.conf.py") in steps


def test_preprocess_folder_holds_the_handler_and_its_libraries_without_torch(tmp_path, resources):
    out = tmp_path / "preprocess"
    subprocess.run(["bash", str(DEPLOY / "build-preprocess.sh"), str(out)], check=True, capture_output=True)
    requirements = [(Requirement(r), True) for r in (out / "requirements.txt").read_text().split()]
    # Run from the folder: it comes first on sys.path, before this checkout's editable install.
    files = loaded_first_party("import lambda_preprocess.handler", out)
    assert files and all(f.is_relative_to(out) for f in files)
    assert distributions(third_party_imports(files)) <= installed_closure(requirements)
    assert not {"torch", "onnxruntime"} & installed_closure(requirements)
    code = resources["PreprocessFunction"]["Properties"]["CodeUri"]
    assert (DEPLOY / code).resolve() == (ROOT / "build" / "preprocess").resolve()
