"""Uploading 1000 images through the web app: time and peak memory of the server process.

Run: ``.venv/bin/python bench/bench_upload.py [--images 1000] [--classes 10]``.

The web app runs as ``teachbox web`` runs it: gunicorn with ``deploy/gunicorn.conf.py``
(gthread), here one worker, on a free loopback port, on a fresh storage folder, with the
real preprocess behind the local invoker (in the worker process, as in local mode). A client
registers, reads the CSRF token from the Train page, and posts one multipart form with every
image (``--classes`` classes), as the browser's form does. Measured:

- upload: POST sent until the server answers 202 (every file streamed to staging);
- preprocess: 202 until the upload status says ``queued`` (polled over HTTP every 50 ms,
  as the Train page polls; the job is queued, no trainer runs);
- peak RSS (VmHWM) of the gunicorn worker and of the master, read from /proc after the upload.

Images are 800x600 JPEGs with sensor-like noise (~90 KB), the size a browser exports or a
camera "web" setting gives; phone originals are measured by bench_preprocess.py.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from PIL import Image, ImageDraw

__all__ = ["make_images", "run_upload"]

_logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
_SIZE = (800, 600)
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_READY_SECONDS = 60
_DONE_SECONDS = 600


def make_images(count: int, seed: int = 0) -> list[bytes]:
    """Distinct 800x600 JPEGs: a noisy gradient (decodes like a photo) with a few shapes."""
    base = Image.merge("RGB", (Image.linear_gradient("L").resize(_SIZE), Image.effect_noise(_SIZE, 10),
                               Image.linear_gradient("L").rotate(90).resize(_SIZE)))

    def one(n: int) -> bytes:
        rng = random.Random(seed * 100_003 + n)
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = rng.randrange(_SIZE[0] - 200), rng.randrange(_SIZE[1] - 200)
            draw.ellipse((x, y, x + 200, y + 200), fill=tuple(rng.randrange(256) for _ in range(3)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        return out.getvalue()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a live process, from the kernel's own high-water mark."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30)
    page.raise_for_status()
    match = _TOKEN.search(page.text)
    if not match:
        raise RuntimeError(f"no CSRF token on {url}")
    return match.group(1)


def _wait_until_serving(base: str, server: subprocess.Popen, log_path: Path) -> None:
    """gunicorn has no readiness signal: try the login page until it answers."""
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"gunicorn exited with {server.returncode} before serving:\n{log}")
        try:
            requests.get(f"{base}/auth/login", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {base} within {_READY_SECONDS} s")


def run_upload(images: list[bytes], classes: int = 10, cache_dir: str | None = None) -> dict:
    """Post ``images`` (split over ``classes``) through a real gunicorn; times and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as folder:
        port = _free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("TEACHBOX_")},
               "TEACHBOX_STORAGE": f"file://{folder}/data", "TEACHBOX_PORT": str(port),
               "TEACHBOX_HOST": "127.0.0.1", "TEACHBOX_SECRET_KEY": "bench-secret", "WEB_CONCURRENCY": "1"}
        if cache_dir:
            env["TEACHBOX_CACHE_DIR"] = cache_dir
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                   "webapp.wsgi:app"]
        log_path = Path(folder) / "gunicorn.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(base, server, log_path)
            result = _upload(base, images, classes)
            workers = _children(server.pid)
            result["worker_peak_rss_mb"] = max(_vm_hwm_mb(pid) for pid in workers)
            result["master_peak_rss_mb"] = _vm_hwm_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return result


def _upload(base: str, images: list[bytes], classes: int) -> dict:
    session = requests.Session()
    token = _token(session, f"{base}/auth/register")
    session.post(f"{base}/auth/register", timeout=30, data={
        "csrf_token": token, "username": "bench", "password": "bench-password-1",
        "confirm": "bench-password-1"}).raise_for_status()
    token = _token(session, f"{base}/image/train?num_classes={classes}")
    fields: list[tuple[str, object]] = [("csrf_token", token), ("project_name", "upload bench"),
                                        ("num_classes", str(classes)), ("submit", "Upload and train")]
    for c in range(classes):
        fields.append((f"class_{c}_name", f"class {c}"))
    files = [(f"class_{n % classes}_files", (f"IMG_{n:04d}.jpg", data, "image/jpeg"))
             for n, data in enumerate(images)]
    megabytes = sum(len(d) for d in images) / 2**20
    started = time.perf_counter()
    answer = session.post(f"{base}/image/train", data=fields, files=files, timeout=_DONE_SECONDS,
                          headers={"Accept": "application/json"})
    uploaded = time.perf_counter()
    if answer.status_code != 202:
        raise RuntimeError(f"the upload was answered {answer.status_code}: {answer.text[:500]}")
    status_url = base + answer.json()["status_url"]
    state = "validating"
    while state == "validating" and time.perf_counter() - uploaded < _DONE_SECONDS:
        time.sleep(0.05)  # the Train page polls too; there is no push channel to wait on
        state = session.get(status_url, timeout=30).json()["state"]
    done = time.perf_counter()
    if state != "queued":
        raise RuntimeError(f"preprocess ended the upload as {state!r}, not 'queued'")
    return {"images": len(images), "classes": classes, "megabytes": megabytes,
            "upload_s": uploaded - started, "preprocess_s": done - uploaded, "total_s": done - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    r = run_upload(make_images(args.images), args.classes)
    print(f"{'images':>6} {'MB':>6} {'upload s':>8} {'preprocess s':>12} {'total s':>7} "
          f"{'worker peak RSS MB':>18} {'master peak RSS MB':>18}")
    print(f"{r['images']:>6} {r['megabytes']:>6.1f} {r['upload_s']:>8.2f} {r['preprocess_s']:>12.2f} "
          f"{r['total_s']:>7.2f} {r['worker_peak_rss_mb']:>18.0f} {r['master_peak_rss_mb']:>18.0f}")


if __name__ == "__main__":
    main()
