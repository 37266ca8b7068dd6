"""Bounded load on loopback: predictions and status polling against gunicorn while a trainer trains.

Run: ``.venv/bin/python bench/bench_load.py [--requests N] [--threads T] [--time-limit S]``.

It trains the two tiny projects of ``bench_inference.py`` (circles and squares; happy and sad
sentences) in a temporary folder, then starts, as in production:

- gunicorn with ``deploy/gunicorn.conf.py`` (gthread, ``WEB_CONCURRENCY`` workers, default 2),
- a trainer process (``teachbox trainer``) that is kept busy: whenever its job ends, another
  augmented retrain of the image project is queued, so every request below meets a training run
  competing for the same two cores,

and a load generator of ``--threads`` threads, each with its own keep-alive ``http.client``
connection, sending a fixed number of requests (``--requests``, stopped early at
``--time-limit`` seconds) in an even mix of:

- ``predict image``: ``POST /api/v1/projects/<id>/predict`` with a 427x320 JPEG (base64 JSON),
- ``predict text``: the same with one sentence,
- ``job status (API)``: ``GET /api/v1/projects/<id>/jobs/<job_id>`` with the project's token,
- ``job status (page)``: ``GET /projects/<id>/jobs/<job_id>.json`` with a signed-in session, as
  the job page polls it.

Goal (issue 11): zero 5xx answers, and p99 under 10x p50 for each kind of request.

Measured on the shared 2-core dev machine with other engineers' tests running (load average 7.1),
``--requests 3000``, 8 client threads, 2 gunicorn workers x 8 threads, a trainer training 100 % of
the time (features of 200 new 427x320 drawings with augmentation):

    request               sent   req/s   p50 ms   p99 ms  p99/p50  5xx  other no answer
    job status (API)       750    37.2      7.5     69.8     9.36    0      0         0
    job status (page)      750    37.2      6.6     65.9    10.00    0      0         0
    predict image          750    37.2    123.6    233.5     1.89    0      0         0
    predict text           750    37.2     61.9    165.8     2.68    0      0         0
    all                   3000   148.6     33.1    212.1     6.40

Reading it: no 5xx and no dropped connection; predictions hold p99 under 3x p50. Status polls
cost ~7 ms alone but wait behind image predictions (~120 ms of CPU each) for one of the two
cores the trainer also uses, so their p99 sits at the 10x goal line: on this machine the tail
of a cheap request is the length of an expensive one, not a server fault. ``--requests 800``
gave 8.2-9.5x for status and 1.9-2.6x for predictions.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_inference import draw_shape, percentile, train_projects  # noqa: E402
from teachbox.jobs import get_job, submit_job  # noqa: E402
from teachbox.projects import load_project  # noqa: E402
from teachbox.settings import load_settings  # noqa: E402
from teachbox.storage import LocalStorage  # noqa: E402
from teachbox.tokens import create_token  # noqa: E402
from teachbox.users import create_user  # noqa: E402

__all__ = ["main", "run_load", "Results"]

_logger = logging.getLogger(__name__)

TEXT = "What a lovely evening we had at the concert"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Results:
    """Latencies (ms) and status codes per kind of request, filled by the load threads."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # no HTTP answer at all
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int | None, milliseconds: float) -> None:
        with self.lock:
            if status is None:
                self.failures[kind] = self.failures.get(kind, 0) + 1
                return
            self.latencies.setdefault(kind, []).append(milliseconds)
            counts = self.statuses.setdefault(kind, {})
            counts[status] = counts.get(status, 0) + 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:  # gunicorn tells readiness only by answering
        if process.poll() is not None:
            raise SystemExit("gunicorn exited before answering; see its log")
        try:
            requests.get(url, timeout=5)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def _session_cookie(base_url: str, username: str, password: str) -> str:
    session = requests.Session()
    token = _TOKEN.search(session.get(base_url + "/auth/login", timeout=30).text).group(1)
    response = session.post(base_url + "/auth/login", allow_redirects=False, timeout=30,
                            data={"csrf_token": token, "username": username, "password": password})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in for the status page: {response.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _keep_training(
    storage: LocalStorage, project_id: str, stop: threading.Event, jobs_run: list[str]
) -> None:
    """Queue a retrain on 2 x 100 new drawings whenever the previous one is over, until ``stop``:
    new pictures every time, so the trainer computes features instead of reading its cache."""
    from tests.inference.conftest import write_dataset  # writes a snapshot exactly as preprocess does

    project = load_project(storage, project_id)
    rng = random.Random(1)
    while not stop.is_set():
        per_class = [[draw_shape(shape, rng) for _ in range(100)] for shape in ("circle", "square")]
        manifest = write_dataset(storage, project, per_class, 0.3)
        job = submit_job(storage, project_id, manifest.dataset_id, "image", featurizer="lite0",
                         options={"augment": True})
        jobs_run.append(job.job_id)
        while not stop.is_set() and not get_job(storage, job.job_id).status.is_terminal:
            stop.wait(0.2)  # storage offers no change notification to wait on


def _training_share(storage: LocalStorage, job_ids: list[str], start: float, end: float) -> float:
    """The share of [start, end] (wall clock) during which a training job was running."""
    busy = 0.0
    for job in (get_job(storage, j) for j in job_ids):
        if job.started:
            busy += max(0.0, min(job.finished or end, end) - max(job.started, start))
    return busy / (end - start)


def run_load(port: int, plan: list[tuple[str, str, str, bytes, dict]], threads: int,
             time_limit: float) -> tuple[Results, float]:
    """Send ``plan`` (kind, method, path, body, headers) from ``threads`` keep-alive connections."""
    results = Results()
    cursor = iter(range(len(plan)))
    cursor_lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def work() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with cursor_lock:
                index = next(cursor, None)
            if index is None:
                break
            kind, method, path, body, headers = plan[index]
            start = time.perf_counter()
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                response.read()
                status: int | None = response.status
            except (OSError, http.client.HTTPException):
                status = None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            results.record(kind, status, (time.perf_counter() - start) * 1e3)
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=work, name=f"load-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, time.perf_counter() - started


def _table(results: Results, elapsed: float) -> list[str]:
    rows = [f"{'request':<20} {'sent':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} "
            f"{'5xx':>4} {'other':>6} {'no answer':>9}"]
    everything: list[float] = []
    for kind in sorted(set(results.latencies) | set(results.failures)):
        times = results.latencies.get(kind, [])
        everything += times
        counts = results.statuses.get(kind, {})
        server_errors = sum(n for code, n in counts.items() if code >= 500)
        other = sum(n for code, n in counts.items() if not 200 <= code < 300 and code < 500)
        p50, p99 = (percentile(times, 50), percentile(times, 99)) if times else (0.0, 0.0)
        rows.append(f"{kind:<20} {len(times):>5} {len(times) / elapsed:>7.1f} {p50:>8.1f} {p99:>8.1f} "
                    f"{(p99 / p50 if p50 else 0):>8.2f} {server_errors:>4} {other:>6} "
                    f"{results.failures.get(kind, 0):>9}")
    if everything:
        p50, p99 = percentile(everything, 50), percentile(everything, 99)
        rows.append(f"{'all':<20} {len(everything):>5} {len(everything) / elapsed:>7.1f} {p50:>8.1f} "
                    f"{p99:>8.1f} {p99 / p50:>8.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="requests to send in all")
    parser.add_argument("--threads", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--time-limit", type=float, default=240.0, help="stop sending after this many s")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--cache-dir", default=str(ROOT / "var" / "cache"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=args.cache_dir,
                                 secret_key="bench-load")
        ids = train_projects(folder, settings)
        storage = LocalStorage(folder)
        create_user(storage, "bench", "bench-password")
        secrets = {kind: create_token(storage, pid, "bench", "load")[1] for kind, pid in ids.items()}

        port = _free_port()
        env = {**os.environ, "TEACHBOX_STORAGE": settings.storage, "TEACHBOX_CACHE_DIR": args.cache_dir,
               "TEACHBOX_SECRET_KEY": "bench-load", "TEACHBOX_HOST": "127.0.0.1", "TEACHBOX_PORT": str(port),
               "TEACHBOX_TRAINER_POLL_SECONDS": "0.2", "WEB_CONCURRENCY": str(args.workers)}
        log = (folder / "processes.log").open("ab")
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                                "--access-logfile", "/dev/null", "webapp.wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        trainer = subprocess.Popen([sys.executable, "-m", "teachbox.cli", "trainer"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        stop = threading.Event()
        jobs_run: list[str] = []
        feeder = threading.Thread(target=_keep_training, args=(storage, ids["image"], stop, jobs_run),
                                  daemon=True)
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_for(base_url + "/auth/login", web)
            cookie = _session_cookie(base_url, "bench", "bench-password")
            feeder.start()
            while not jobs_run or get_job(storage, jobs_run[0]).state == "queued":
                time.sleep(0.2)  # load starts once the trainer is busy
            job_id = jobs_run[0]
            photo = base64.b64encode(draw_shape("circle", random.Random(5))).decode()
            api = {kind: {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
                   for kind, secret in secrets.items()}
            kinds = [
                ("predict image", "POST", f"/api/v1/projects/{ids['image']}/predict",
                 json.dumps({"image_b64": photo}).encode(), api["image"]),
                ("predict text", "POST", f"/api/v1/projects/{ids['text']}/predict",
                 json.dumps({"text": TEXT}).encode(), api["text"]),
                ("job status (API)", "GET", f"/api/v1/projects/{ids['image']}/jobs/{job_id}", b"",
                 {"Authorization": api["image"]["Authorization"]}),
                ("job status (page)", "GET", f"/projects/{ids['image']}/jobs/{job_id}.json", b"",
                 {"Cookie": cookie}),
            ]
            # Warm every worker's models before timing: many connections, so each worker gets some.
            run_load(port, kinds * (4 * args.workers), args.threads, 120)
            plan = [kinds[n % len(kinds)] for n in range(args.requests)]
            random.Random(0).shuffle(plan)
            load_start = time.time()
            results, elapsed = run_load(port, plan, args.threads, args.time_limit)
            busy = _training_share(storage, jobs_run, load_start, time.time())
        finally:
            stop.set()
            for process in (web, trainer):
                process.terminate()
            for process in (web, trainer):
                process.wait(timeout=60)
            log.close()
        finished = [get_job(storage, j).state for j in jobs_run]

    print(f"bench_load: {args.requests} requests, {args.threads} threads, {args.workers} gunicorn workers "
          f"x 8 threads, {elapsed:.1f} s; a trainer was training {busy:.0%} of that time "
          f"({len(finished)} retrains on 2 x 100 new drawings, {finished.count('succeeded')} succeeded)")
    for row in _table(results, elapsed):
        print(row)
    server_errors = sum(n for counts in results.statuses.values()
                        for code, n in counts.items() if code >= 500)
    ratios = [percentile(t, 99) / percentile(t, 50) for t in results.latencies.values() if t]
    print(f"goal: zero 5xx -> {server_errors}; p99 < 10x p50 for every request -> "
          f"worst {max(ratios, default=0):.2f}x")


if __name__ == "__main__":
    main()
