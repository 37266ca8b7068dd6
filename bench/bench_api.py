"""What the REST API adds to a prediction: the invoker call alone, the same through Flask, and
through a real HTTP server, for one text and one image.

Run: ``.venv/bin/python bench/bench_api.py [--cache-dir DIR] [--runs N]`` on an idle machine.

It trains the two tiny projects of ``bench_inference.py`` (circles and squares; happy and sad
sentences) in a temporary folder, makes an API token for each, then times, interleaved round by
round so every row sees the same machine load:

- ``invoker.call("infer")``: what the site's Inference page does, in this process;
- the API route through Flask's test client: token check (one storage read + SHA-256), project
  read, body parsing, the same invoker call, JSON answer;
- the same over HTTP to werkzeug's threaded server on a loopback port, with a keep-alive session;
- ``verify_token`` alone.

Goal: the API costs at most a few milliseconds over the invoker call, so a program sees the
model's speed, not the web layer's.

Measured on the shared 2-core dev machine with other engineers' tests running (load average 3.9-6.1),
``--runs 100``:

    measurement                                      p50 ms   p95 ms  note
    text: invoker.call                                14.61    22.80
    text: API, Flask test client                      16.76    29.58  +2.15 ms over invoker.call
    text: API over HTTP (keep-alive)                  23.05    34.29  +8.44 ms over invoker.call
    image: invoker.call                               26.98    43.49
    image: API, Flask test client, base64 JSON        28.22    38.36  +1.24 ms over invoker.call
    image: API over HTTP, multipart file              39.98    60.07  +13.00 ms over invoker.call
    verify_token (local disk)                          0.30     3.27

Reading it: the API's own work (token check, project read, parsing, JSON) is 1-2 ms; the rest of
the HTTP rows is werkzeug's development server and the client on the same two busy cores (the
multipart row also encodes and parses a 20 kB file). Production runs gunicorn, not this server.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import random
import sys
import tempfile
import threading
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_inference import draw_shape, percentile, timed, train_projects  # noqa: E402
from teachbox.settings import load_settings  # noqa: E402
from teachbox.tokens import create_token, verify_token  # noqa: E402
from webapp import create_app  # noqa: E402

TEXT = "What a lovely evening we had at the concert"


def measure(cache_dir: str, runs: int) -> list[tuple[str, float, float, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        settings = load_settings(env={}, storage=f"file://{folder}", cache_dir=cache_dir, secret_key="bench")
        ids = train_projects(folder, settings)
        app = create_app(settings)
        services = app.extensions["teachbox"]
        secrets = {kind: create_token(services.storage, pid, "bench", "bench")[1]
                   for kind, pid in ids.items()}
        photo = draw_shape("circle", random.Random(5))
        photo_b64 = base64.b64encode(photo).decode()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the table
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}/api/v1/projects"
        client = app.test_client()
        http = requests.Session()

        def api(kind: str) -> dict:
            return {"headers": {"Authorization": f"Bearer {secrets[kind]}"}}

        def invoke(kind: str, item: dict):
            return lambda: services.invoker.call("infer", {"project_id": ids[kind], "inputs": [item]})

        def ok(response):
            if response.status_code != 200:
                raise SystemExit(f"the API answered {response.status_code}; the bench measures answers")
            return response

        calls = {
            "text: invoker.call": invoke("text", {"text": TEXT}),
            "text: API, Flask test client": lambda: ok(client.post(
                f"/api/v1/projects/{ids['text']}/predict", json={"text": TEXT}, **api("text"))),
            "text: API over HTTP (keep-alive)": lambda: ok(http.post(
                f"{base}/{ids['text']}/predict", json={"text": TEXT}, **api("text"))),
            "image: invoker.call": invoke("image", {"image_b64": photo_b64}),
            "image: API, Flask test client, base64 JSON": lambda: ok(client.post(
                f"/api/v1/projects/{ids['image']}/predict", json={"image_b64": photo_b64}, **api("image"))),
            "image: API over HTTP, multipart file": lambda: ok(http.post(
                f"{base}/{ids['image']}/predict", files={"image": ("p.jpg", photo)}, **api("image"))),
            "verify_token (local disk)": lambda: verify_token(services.storage, ids["text"], secrets["text"]),
        }
        times = timed(calls, runs)
        server.shutdown()
        thread.join()
    rows = []
    for name, values in times.items():
        kind = name.split(":")[0]
        base_p50 = percentile(times.get(f"{kind}: invoker.call", values), 50)
        extra = percentile(values, 50) - base_p50
        note = f"+{extra:.2f} ms over invoker.call" if "API" in name else ""
        rows.append((name, percentile(values, 50), percentile(values, 95), note))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=os.environ.get("TEACHBOX_CACHE_DIR", "./var/cache"))
    parser.add_argument("--runs", type=int, default=200, help="timed calls per row")
    args = parser.parse_args()
    rows = measure(args.cache_dir, args.runs)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nruns: {args.runs}; load average {load} on {os.cpu_count()} cores\n")
    print(f"{'measurement':46} {'p50 ms':>8} {'p95 ms':>8}  note")
    for name, p50, p95, note in rows:
        print(f"{name:46} {p50:>8.2f} {p95:>8.2f}  {note}")


if __name__ == "__main__":
    main()
