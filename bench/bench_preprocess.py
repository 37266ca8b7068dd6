"""Preprocess speed on this machine: images per second for phone-sized JPEG uploads.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_preprocess.py [--photos N] [--workers 1,8]`` on an idle
machine. Photos are 4032x3024 JPEGs (12 megapixels, like a phone camera) drawn with Pillow,
staged in a local folder the way the web app stages them; the time covers the whole
``handle`` call: read, decode (with JPEG draft mode), normalize, hash, split, write the
snapshot and queue the job.

Measured on the 2-core CPU of the dev machine (Pillow 13 with libjpeg-turbo 3.2), photos
2.6 MB each, while other work kept the load average at 5-8 (so about one core was ours):

    images  classes  workers  seconds  images/s
       100        2        1     11.5       8.7
       100        2        2      8.0      12.5
       100        2        4      8.3      12.0
      1000       10        1     81.9      12.2
      1000       10        2     87.6      11.4
      1000       10        4     90.8      11.0

One photo costs 65 ms of CPU to decode in draft mode (1/8 scale; Huffman decoding of the
full file dominates) and 85 ms to normalize in all, so an idle 2-core machine needs about
35-45 s for 1000 photos; with 20 photos at load 3, 1/2/4 workers gave 12.8/15.1/18.8 images/s,
hence 4 workers by default. A Lambda with more memory gets more vCPUs (6 at 10 GB).
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageDraw

from lambda_preprocess.preprocess import DEFAULT_WORKERS, preprocess
from teachbox.settings import load_settings
from teachbox.storage import LocalStorage, new_id
from teachbox.uploads import UploadState, UploadStatus, staging_prefix, write_upload_status

PHONE_SIZE = (4032, 3024)


def _base_photo() -> Image.Image:
    """Smooth colour with sensor-like noise: decodes like a photo, not like a flat test card."""
    gradient = Image.linear_gradient("L").resize(PHONE_SIZE)
    noise = Image.effect_noise(PHONE_SIZE, 12)
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def _photo(base: Image.Image, seed: int) -> bytes:
    rng = random.Random(seed)
    image = base.copy()
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(3500), rng.randrange(2500)
        draw.ellipse((x, y, x + 500, y + 500), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def make_photos(count: int) -> list[bytes]:
    base = _base_photo()
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda seed: _photo(base, seed), range(count)))


def run(photos: list[bytes], classes: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        storage = LocalStorage(root)
        settings = load_settings(env={}, storage=f"file://{root}")
        upload_id, project_id = new_id(), new_id()
        files = []
        for n, data in enumerate(photos):
            key = f"{staging_prefix(upload_id)}f{n:04d}.bin"
            storage.put(key, data)
            files.append({"class_index": n % classes, "key": key, "filename": f"IMG_{n:04d}.JPG"})
        write_upload_status(storage, UploadStatus(upload_id, project_id, "bench", UploadState.VALIDATING))
        payload = {
            "upload_id": upload_id, "project_id": project_id, "owner": "bench", "project_name": "Bench",
            "kind": "image", "class_names": [f"class {i}" for i in range(classes)], "files": files,
            "pasted": {}, "labelled_csv": None, "options": {"featurizer": "", "augment": False},
        }
        started = time.perf_counter()
        result = preprocess(payload, storage, settings, workers=workers)
        elapsed = time.perf_counter() - started
        assert result["ok"], result  # noqa: S101 - a bench, not input validation
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="100,1000", help="comma-separated upload sizes")
    parser.add_argument("--workers", default=f"1,{DEFAULT_WORKERS}", help="comma-separated pool sizes")
    args = parser.parse_args()
    sizes = [int(n) for n in args.photos.split(",")]
    pools = [int(n) for n in args.workers.split(",")]
    started = time.perf_counter()
    photos = make_photos(max(sizes))
    mean_mb = sum(map(len, photos)) / len(photos) / 1e6
    print(f"made {len(photos)} photos {PHONE_SIZE[0]}x{PHONE_SIZE[1]}, {mean_mb:.1f} MB each, "
          f"in {time.perf_counter() - started:.0f} s")
    print(f"{'images':>6}  {'classes':>7}  {'workers':>7}  {'seconds':>7}  {'images/s':>8}")
    for size in sizes:
        classes = 2 if size <= 200 else 10
        for workers in pools:
            seconds = run(photos[:size], classes, workers)
            rate = size / seconds
            print(f"{size:>6}  {classes:>7}  {workers:>7}  {seconds:>7.1f}  {rate:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
