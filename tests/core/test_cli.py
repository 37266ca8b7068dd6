"""The ``teachbox`` command as a new user meets it: ``make run`` is ``teachbox run``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from teachbox.storage import LocalStorage

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _login_page(port: int) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=2) as answer:
            return answer.read()
    except (urllib.error.URLError, ConnectionError):
        return None


def test_run_serves_the_web_app_with_a_trainer_and_ctrl_c_stops_both(
    tmp_path: Path, cache_dir: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEACHBOX_")}
    env.update(TEACHBOX_STORAGE=f"file://{tmp_path / 'data'}", TEACHBOX_CACHE_DIR=str(cache_dir),
               TEACHBOX_PORT=str(port))
    log = tmp_path / "run.log"
    with log.open("wb") as out:  # a file, not a pipe nobody reads while the app logs
        run = subprocess.Popen([sys.executable, "-m", "teachbox.cli", "run"], env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        page = _wait_for(lambda: _login_page(port), "the login page")
        assert b"Log in" in page
        storage = LocalStorage(tmp_path / "data")
        trainers = _wait_for(lambda: storage.list("trainers/"), "the trainer's heartbeat")
        assert json.loads(storage.get(trainers[0]))["state"] in ("idle", "starting")

        run.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
    output = log.read_text()
    assert f"http://127.0.0.1:{port}" in output
    assert "stopped after 0 job(s)" in output
    assert _login_page(port) is None  # gunicorn is gone too
