"""The API over a real HTTP server on a loopback port: a signed-in person makes a token on the
project page, and the curl command that page prints works as printed."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from tests.api.conftest import PASSWORD, World, bearer, shape_png

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _code(page: str, element_id: str) -> str:
    match = re.search(rf'<code id="{element_id}">(.*?)</code>', page, re.S)
    assert match, f"no <code id={element_id}> on the page"
    return html.unescape(match.group(1))


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, world.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser(base_url: str) -> Iterator[requests.Session]:
    """A signed-in site session, as a browser would hold it."""
    with requests.Session() as session:
        token = _CSRF.search(session.get(f"{base_url}/auth/login").text).group(1)
        response = session.post(f"{base_url}/auth/login", data={
            "csrf_token": token, "username": "alice", "password": PASSWORD})
        assert response.ok and "/auth/login" not in response.url
        yield session


def _new_token(browser: requests.Session, base_url: str, world: World) -> tuple[str, str]:
    """Create a token on the project page; returns the page and the secret shown once."""
    page = browser.get(f"{base_url}/projects/{world.trained.id}").text
    csrf = _CSRF.search(page).group(1)
    created = browser.post(f"{base_url}/projects/{world.trained.id}/tokens",
                           data={"csrf_token": csrf, "name": "live test"})
    assert created.status_code == 201
    return page, _code(created.text, "token-secret")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_command_on_the_project_page_predicts_as_printed(
    browser: requests.Session, base_url: str, world: World, tmp_path: Path
) -> None:
    page, secret = _new_token(browser, base_url, world)
    command = _code(page, "curl-predict")
    assert f"{base_url}/api/v1/projects/{world.trained.id}/predict" in command
    (tmp_path / "photo.jpg").write_bytes(shape_png("square", 77))
    ran = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "TEACHBOX_TOKEN": secret}, check=True)
    answer = json.loads(ran.stdout)
    expected = requests.post(f"{base_url}/api/v1/projects/{world.trained.id}/predict", headers=bearer(secret),
                             files={"image": ("p.png", shape_png("square", 77))}, timeout=60).json()
    assert "predictions" in answer and "predictions" in expected, (answer, expected)
    assert answer["predictions"][0]["label"] == expected["predictions"][0]["label"]
    assert answer["version"] == world.version


def test_a_program_adds_examples_and_follows_them_to_a_queued_job(
    browser: requests.Session, base_url: str, world: World
) -> None:
    _, secret = _new_token(browser, base_url, world)
    files = [("examples[circle]", (f"c{n}.png", shape_png("circle", 200 + n))) for n in range(2)]
    accepted = requests.post(f"{base_url}/api/v1/projects/{world.trained.id}/examples",
                             headers=bearer(secret), files=files, timeout=60)
    assert accepted.status_code == 202
    assert accepted.headers["Location"] == accepted.json()["status_url"]
    world.app.extensions["teachbox"].invoker.wait(timeout=120)  # the background preprocess step
    upload = requests.get(accepted.json()["status_url"], headers=bearer(secret), timeout=60).json()
    assert upload["state"] == "queued", upload
    job = requests.get(upload["job_url"], headers=bearer(secret), timeout=60).json()
    assert job["state"] == "queued"


def test_a_download_streams_the_whole_file_over_http(
    browser: requests.Session, base_url: str, world: World
) -> None:
    _, secret = _new_token(browser, base_url, world)
    version = requests.get(f"{base_url}/api/v1/projects/{world.trained.id}/versions/{world.version}",
                           headers=bearer(secret), timeout=60).json()
    onnx = next(e for e in version["exports"] if e["name"] == "model.onnx")
    with requests.get(onnx["url"], headers=bearer(secret), stream=True, timeout=60) as response:
        assert response.status_code == 200
        size = sum(len(chunk) for chunk in response.iter_content(1 << 16))
    assert size == onnx["size"]


def test_a_token_revoked_on_the_page_is_refused_at_once(
    browser: requests.Session, base_url: str, world: World
) -> None:
    _, secret = _new_token(browser, base_url, world)
    url = f"{base_url}/api/v1/projects/{world.trained.id}"
    assert requests.get(url, headers=bearer(secret), timeout=60).status_code == 200
    page = browser.get(f"{base_url}/projects/{world.trained.id}").text
    token_id = secret.split("_")[1]
    assert f'value="{token_id}"' in page
    browser.post(f"{base_url}/projects/{world.trained.id}/tokens/revoke",
                 data={"csrf_token": _CSRF.search(page).group(1), "token_id": token_id})
    refused = requests.get(url, headers=bearer(secret), timeout=60)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_command_to_add_examples_works_as_printed(
    browser: requests.Session, base_url: str, world: World, tmp_path: Path
) -> None:
    page, secret = _new_token(browser, base_url, world)
    command = _code(page, "curl-examples")
    (tmp_path / "circle1.jpg").write_bytes(shape_png("circle", 300))
    ran = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "TEACHBOX_TOKEN": secret}, check=True)
    answer = json.loads(ran.stdout)
    assert answer["state"] == "validating", answer
    assert answer["status_url"].startswith(f"{base_url}/api/v1/projects/{world.trained.id}/uploads/")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_text_projects_curl_command_predicts_as_printed(
    browser: requests.Session, base_url: str, world: World, tmp_path: Path
) -> None:
    command = _code(browser.get(f"{base_url}/projects/{world.texts.id}").text, "curl-predict")
    ran = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "TEACHBOX_TOKEN": world.text_token}, check=True)
    answer = json.loads(ran.stdout)
    assert answer["kind"] == "text", answer
    assert answer["predictions"][0]["label"] in world.texts.class_names
