"""Importing and exporting archives: what the zip path costs on top of the normal upload path.

Run: ``.venv/bin/python bench/bench_archives.py [--images 1000] [--classes 10]``.

On a fresh storage folder, with 800x600 JPEGs (~90 KB, as bench_upload.py makes them):

- scan: ``scan_zip`` checking every entry and decompressing every file (nothing written);
- preprocess (zip): the real preprocess step on one staged zip (scan, expand to staging,
  validate, normalize, write the dataset);
- preprocess (files): the same images staged one by one, as the Train form stages them;
- download: the dataset as a zip in the import layout (``dataset_entries`` + ``write_zip``);
- export / import: the whole project (dataset, no model) to one zip and back as a new project.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_upload import make_images  # noqa: E402
from lambda_preprocess import preprocess  # noqa: E402
from teachbox.archives import dataset_entries, scan_zip, write_zip  # noqa: E402
from teachbox.datasets import load_manifest  # noqa: E402
from teachbox.project_export import export_project, import_project  # noqa: E402
from teachbox.projects import create_project  # noqa: E402
from teachbox.settings import load_settings  # noqa: E402
from teachbox.storage import LocalStorage, new_id  # noqa: E402
from teachbox.uploads import staging_prefix  # noqa: E402


def _payload(upload_id: str, class_names: list[str], **extra) -> dict:
    return {"upload_id": upload_id, "project_id": new_id(), "owner": "bench", "project_name": "Bench",
            "kind": "image", "class_names": class_names, "options": {}, **extra}


def _timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    per_class = args.images // args.classes
    images = make_images(per_class * args.classes)
    names = [f"class{c}" for c in range(args.classes)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in enumerate(images):
            zf.writestr(f"photos/{names[n // per_class]}/{n:05d}.jpg", data)
    archive = buffer.getvalue()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(env={}, storage=f"file://{folder}", image_max_per_class=max(100, per_class))
        storage = LocalStorage(folder)

        seconds, _ = _timed(lambda: scan_zip(io.BytesIO(archive), "image"))
        rows.append(("scan", seconds))

        upload_id = new_id()
        storage.put(f"{staging_prefix(upload_id)}archive.zip", archive)
        seconds, from_zip = _timed(lambda: preprocess(_payload(upload_id, [], archive={
            "key": f"{staging_prefix(upload_id)}archive.zip", "filename": "photos.zip"}), storage, settings))
        rows.append(("preprocess (zip)", seconds))

        upload_id = new_id()
        files = []
        for n, data in enumerate(images):
            key = f"{staging_prefix(upload_id)}f{n:05d}.bin"
            storage.put(key, data)
            files.append({"class_index": n // per_class, "key": key, "filename": f"{n:05d}.jpg"})
        seconds, _ = _timed(lambda: preprocess(_payload(upload_id, names, files=files), storage, settings))
        rows.append(("preprocess (files)", seconds))

        manifest = load_manifest(storage, from_zip["project_id"], from_zip["dataset_id"])
        download = io.BytesIO()
        seconds, _ = _timed(lambda: write_zip(download, dataset_entries(storage, manifest)))
        rows.append(("download dataset zip", seconds))

        create_project(storage, "bench", "Bench", "image", manifest.class_names,
                       project_id=from_zip["project_id"])
        exported = io.BytesIO()
        seconds, _ = _timed(lambda: export_project(storage, from_zip["project_id"], exported))
        rows.append(("export project", seconds))
        exported.seek(0)
        seconds, _ = _timed(lambda: import_project(storage, exported, owner="someone"))
        rows.append(("import project", seconds))

    mib = {name: len(data) / 2**20 for name, data in (("zip", archive), ("download", download.getvalue()),
                                                        ("export", exported.getvalue()))}
    print(f"{len(images)} images in {args.classes} classes; " + ", ".join(
        f"{name} {size:.1f} MiB" for name, size in mib.items()))
    print(f"{'step':24} {'seconds':>8} {'ms/image':>9}")
    for step, seconds in rows:
        print(f"{step:24} {seconds:8.2f} {1000 * seconds / len(images):9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
