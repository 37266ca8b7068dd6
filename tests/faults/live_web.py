"""The web app as it runs in production: gunicorn with deploy/gunicorn.conf.py on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

__all__ = ["ROOT", "LiveWeb", "free_port", "signed_in_session", "upload_images"]

ROOT = Path(__file__).resolve().parents[2]
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveWeb:
    """One gunicorn master with one worker on a fixed port, restartable over the same storage."""

    def __init__(self, storage_url: str, cache_dir: str, log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {**os.environ, "TEACHBOX_STORAGE": storage_url, "TEACHBOX_CACHE_DIR": cache_dir,
                    "TEACHBOX_SECRET_KEY": "live-test-secret", "TEACHBOX_HOST": "127.0.0.1",
                    "TEACHBOX_PORT": str(self.port), "WEB_CONCURRENCY": str(workers)}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                 "webapp.wsgi:app"],
                cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:  # gunicorn signals readiness only by listening
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/auth/login", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")
            time.sleep(0.1)

    def kill(self, timeout: float = 30.0) -> None:
        """SIGKILL the master, then its workers (in that order, or the master would start new
        ones): a crash, not a shutdown. Returns once nothing listens on the port any more."""
        if self.process is None:
            return
        workers = _children(self.process.pid)
        self.process.kill()
        self.process.wait()
        self.process = None
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while _listening(self.port):  # a killed worker's socket closes with it; nothing to await
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port} still in use {timeout:.0f} s after the kill")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def csrf_token(session: requests.Session, url: str) -> str:
    match = _TOKEN.search(session.get(url, timeout=30).text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def signed_in_session(base_url: str, username: str, password: str = "correct-horse") -> requests.Session:
    """Register (or, if taken, log in) through the real forms."""
    session = requests.Session()
    token = csrf_token(session, base_url + "/auth/register")
    response = session.post(base_url + "/auth/register", timeout=30, allow_redirects=False, data={
        "csrf_token": token, "username": username, "password": password, "confirm": password})
    if response.status_code != 302:
        token = csrf_token(session, base_url + "/auth/login")
        response = session.post(base_url + "/auth/login", timeout=30, allow_redirects=False, data={
            "csrf_token": token, "username": username, "password": password})
    assert response.status_code == 302, response.text[:500]
    return session


def upload_images(session: requests.Session, base_url: str, name: str,
                  classes: dict[str, list[tuple[str, bytes]]]) -> requests.Response:
    token = csrf_token(session, f"{base_url}/image/train?num_classes={len(classes)}")
    data = {"csrf_token": token, "project_name": name, "num_classes": str(len(classes)),
            "submit": "Upload and train"}
    files = []
    for i, (class_name, images) in enumerate(classes.items()):
        data[f"class_{i}_name"] = class_name
        files += [(f"class_{i}_files", (filename, content, "image/png")) for filename, content in images]
    return session.post(base_url + "/image/train", data=data, files=files, timeout=120, allow_redirects=False)
