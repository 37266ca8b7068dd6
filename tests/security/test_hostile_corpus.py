"""Hostile uploads through the real Train form: each file is refused naming it, or stored as a
freshly encoded image; hostile names are stored verbatim and rendered escaped on every page."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from teachbox.datasets import load_manifest, sample_key
from teachbox.jobs import get_job
from tests.preprocess.corpus import png_declaring
from tests.webapp.conftest import class_images

SCRIPT = "<script>alert(1)</script>"
HOSTILE_NAMES = [SCRIPT, "../../users/root", "שלום <b>עולם</b>", "<img src=x onerror=alert(2)>"]
# Direction overrides make a name read differently than it is; NUL bytes end strings in C tools.
REFUSED_NAMES = ["\u202egnp.exe", "re\x00d"]


def _zip_renamed_png() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "not an image")
    return out.getvalue()


def _gif_html_polyglot() -> bytes:
    """A real GIF whose bytes are also an HTML page with a script (the GIFAR family)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "GIF")
    return out.getvalue() + b"<html><script>alert(3)</script></html>"


def _fifty_megabyte_bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4100, 4100), "green").save(out, "BMP")  # 50.4 MB uncompressed
    return out.getvalue()


HOSTILE_FILES = {
    "bomb.png": png_declaring(100_000, 100_000),
    "archive.png": _zip_renamed_png(),
    "big.bmp": _fifty_megabyte_bmp(),
    "nul\x00name.jpg": b"\x00" * 100,
    f"{SCRIPT}.png": b"<html>" + SCRIPT.encode() + b"</html>",
}


def _pages(client, status) -> list[str]:
    paths = [f"/uploads/{status.upload_id}", f"/projects/{status.project_id}",
             f"/projects/{status.project_id}/details", "/"]
    if status.job_id:
        paths.append(f"/projects/{status.project_id}/jobs/{status.job_id}")
    return [client.get(path, follow_redirects=True).get_data(as_text=True) for path in paths]


def _assert_escaped(html: str) -> None:
    assert SCRIPT not in html and "<img src=x" not in html
    assert "alert(3)" not in html


def test_hostile_files_are_each_refused_naming_the_file_and_nothing_is_stored(
    client, auth, projects, storage
):
    auth.register("alice")
    red = class_images(0, 10)
    blue = class_images(1, 10)[:5] + list(HOSTILE_FILES.items())

    response = projects.upload_images("Hostile", {"red": red, "blue": blue})
    # werkzeug's test client spools a body this large to a temporary file it never closes.
    response.request.environ["wsgi.input"].close()
    status = projects.finished_upload(response)

    assert status.state == "rejected"
    named = " ".join(f"{p.get('item', '')} {p.get('reason', '')}" for p in status.problems)
    for filename in ("bomb.png", "archive.png", "big.bmp", "nul", f"{SCRIPT}.png"):
        assert filename in named, f"{filename!r} is not named in: {named}"
    assert storage.list("projects/") == [] and storage.list("jobs/") == []
    retry = client.get(f"/image/train?retry={status.upload_id}").get_data(as_text=True)
    _assert_escaped(retry)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in retry


def test_a_gif_html_polyglot_is_stored_as_a_fresh_jpeg_without_the_script(client, auth, projects, storage):
    auth.register("alice")
    blue = class_images(1, 9) + [("poly.gif", _gif_html_polyglot())]

    status = projects.finished_upload(projects.upload_images("Poly", {"red": class_images(0, 10),
                                                                       "blue": blue}))

    assert status.state == "queued", status.problems
    manifest = load_manifest(storage, status.project_id, get_job(storage, status.job_id).dataset_id)
    (sample,) = [s for s in manifest.samples if s.source == "poly.gif"]
    stored = storage.get(sample_key(status.project_id, manifest.dataset_id, sample))
    assert stored.startswith(b"\xff\xd8") and b"script" not in stored
    dataset_path = f"/projects/{status.project_id}/datasets/{manifest.dataset_id}"
    served = client.get(f"{dataset_path}/samples/{sample.sha256}")
    assert served.mimetype == "image/jpeg" and served.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_class_name_is_stored_verbatim_and_rendered_escaped(client, auth, projects, storage, name):
    auth.register("alice")

    status = projects.finished_upload(projects.upload_images(
        f"Project {name}", {name: class_images(0, 10), "blue": class_images(1, 10)}))

    assert status.state == "queued", status.problems
    manifest = load_manifest(storage, status.project_id, get_job(storage, status.job_id).dataset_id)
    assert manifest.class_names[0] == name.strip()
    assert all(name not in key for key in storage.list(""))  # names never become storage keys
    for html in _pages(client, status):
        _assert_escaped(html)


@pytest.mark.parametrize("name", REFUSED_NAMES, ids=["rtl-override", "nul"])
def test_a_class_name_with_control_or_direction_characters_is_refused_with_a_sentence(
    auth, projects, storage, name
):
    auth.register("alice")

    response = projects.upload_images("Tricky", {name: class_images(0, 10), "blue": class_images(1, 10)})

    assert response.status_code == 200  # the form again, with the problem next to the field
    assert "contains control or direction characters" in response.get_data(as_text=True)
    assert storage.list("projects/") == [] and storage.list("staging/") == []
