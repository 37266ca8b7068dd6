"""The serving entry points as they really run: a fresh Lambda process, Function URL calls with a
token, and ``teachbox predict`` on the command line."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from urllib3 import encode_multipart_formdata

import lambda_infer.handler as handler_module
from teachbox.tokens import create_token
from tests.inference.conftest import TrainedProject, function_url_event, json_event, response_json

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

_LAMBDA_PROCESS = """
import base64, json, sys
from lambda_infer.handler import handler
image = sys.stdin.buffer.read()
payload = {"project_id": sys.argv[1], "inputs": [{"image_b64": base64.b64encode(image).decode()}]}
result = handler(payload, None)
print(json.dumps({"result": result, "loaded": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def _env(trained: TrainedProject) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEACHBOX_")}
    return {**env, "TEACHBOX_STORAGE": trained.settings.storage,
            "TEACHBOX_CACHE_DIR": trained.settings.cache_dir}


def _fresh_handler(trained: TrainedProject, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict], dict]:
    """The handler of a new Lambda container configured for ``trained``'s storage."""
    for name, value in _env(trained).items():
        if name.startswith("TEACHBOX_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler_module, "_state", None)
    return lambda event: handler_module.handler(event, None)


@pytest.fixture
def http_handler(trained_image: TrainedProject, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict], dict]:
    return _fresh_handler(trained_image, monkeypatch)


def _image(trained: TrainedProject, class_index: int) -> bytes:
    """A validation image of that class which the trainer itself classified right, so these
    tests check the entry points, not the accuracy of a model trained on 24 drawings."""
    meta = trained.storage.get_json(f"projects/{trained.project.id}/models/{trained.version}/model.json")
    right = {row["sha256"] for row in meta["metrics"]["val_predictions"]
             if int(np.argmax(row["probabilities"])) == class_index}
    sample = next(s for s in trained.manifest.split("val")
                  if s.class_index == class_index and s.sha256 in right)
    return trained.sample_input(sample)


def test_the_serving_path_never_imports_torch(trained_image: TrainedProject) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LAMBDA_PROCESS, trained_image.project.id],
        input=_image(trained_image, 0), capture_output=True, cwd=ROOT, env=_env(trained_image),
        timeout=120, check=True,
    )
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])

    assert report["result"]["ok"] is True
    assert report["result"]["predictions"][0]["label"] == "circle"
    assert "torch" not in report["loaded"]
    assert "trainer" not in report["loaded"]
    # An image model has no n-gram head: nltk (and the scipy it drags in, ~1.7 s) stays out.
    assert "nltk" not in report["loaded"]


def test_a_function_url_call_with_the_projects_token_is_answered(
    trained_image: TrainedProject, http_handler: Callable[[dict], dict]
) -> None:
    _, token = create_token(trained_image.storage, trained_image.project.id, "alice", "tests")
    body = {"image_b64": base64.b64encode(_image(trained_image, 1)).decode(), "top_k": 1}

    response = http_handler(json_event(trained_image.project.id, body, token=token))

    assert response["statusCode"] == 200
    answer = response_json(response)
    assert (answer["version"], answer["kind"]) == ("v1", "image")
    assert answer["predictions"][0]["label"] == "square"
    assert len(answer["predictions"][0]["top"]) == 1


def test_a_multipart_upload_through_the_function_url_is_answered_in_order(
    trained_image: TrainedProject, http_handler: Callable[[dict], dict]
) -> None:
    _, token = create_token(trained_image.storage, trained_image.project.id, "alice", "tests")
    body, content_type = encode_multipart_formdata([
        ("file", ("square.png", _image(trained_image, 1), "image/png")),
        ("file", ("circle.png", _image(trained_image, 0), "image/png")),
    ])
    event = function_url_event(f"/projects/{trained_image.project.id}/predict", body,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})

    response = http_handler(event)

    assert response["statusCode"] == 200
    assert [p["label"] for p in response_json(response)["predictions"]] == ["square", "circle"]


def test_a_server_side_failure_is_a_500_without_traceback_or_path(
    trained_image: TrainedProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = trained_image.copy_to(tmp_path / "data")
    project.storage.put(f"projects/{project.project.id}/models/v1/head.npz", b"damaged on disk")
    _, token = create_token(project.storage, project.project.id, "alice", "tests")
    body = {"image_b64": base64.b64encode(_image(project, 0)).decode()}

    response = _fresh_handler(project, monkeypatch)(json_event(project.project.id, body, token=token))

    assert response["statusCode"] == 500
    assert response_json(response) == {
        "error": "internal_error", "message": "The prediction failed on our side; try again in a moment."}
    assert str(tmp_path) not in response["body"] and "Traceback" not in response["body"]


def test_teachbox_predict_prints_one_answer_per_file(trained_image: TrainedProject, tmp_path: Path) -> None:
    (tmp_path / "round.png").write_bytes(_image(trained_image, 0))
    (tmp_path / "boxy.png").write_bytes(_image(trained_image, 1))

    done = subprocess.run(
        [sys.executable, "-m", "teachbox.cli", "predict", trained_image.project.id,
         str(tmp_path / "round.png"), str(tmp_path / "boxy.png"), "--top-k", "2"],
        capture_output=True, text=True, cwd=ROOT, env=_env(trained_image), timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[str(tmp_path / "round.png"), "circle"],
                                                    [str(tmp_path / "boxy.png"), "square"]]
    assert "(circle " in lines[0] and ", square " in lines[0]


def test_teachbox_predict_names_an_unreadable_file(trained_image: TrainedProject, tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not a picture")

    done = subprocess.run(
        [sys.executable, "-m", "teachbox.cli", "predict", trained_image.project.id, str(notes)],
        capture_output=True, text=True, cwd=ROOT, env=_env(trained_image), timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"teachbox: {notes} is not a readable image (JPEG, PNG, WebP, GIF or BMP)."
    )


def test_teachbox_predict_reads_texts_from_stdin_one_per_line(trained_text: TrainedProject) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "teachbox.cli", "predict", trained_text.project.id, "-", "--top-k", "1"],
        input="What a lovely party, I am so glad.\n\nI hated the funeral, it ruined my week.\n",
        capture_output=True, text=True, cwd=ROOT, env=_env(trained_text), timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert [line.split()[:4] for line in done.stdout.splitlines()] == [
        ["stdin", "line", "1", "happy"], ["stdin", "line", "3", "sad"]]
