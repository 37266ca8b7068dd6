"""The web app killed mid-upload (gunicorn SIGKILLed, then started again) loses nothing it had
acknowledged, keeps nothing of the upload it was receiving, and takes the next one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from teachbox.jobs import get_job
from teachbox.storage import Storage
from teachbox.uploads import get_upload_status
from tests.faults.live_web import LiveWeb, signed_in_session, upload_images
from tests.webapp.conftest import class_images

pytestmark = pytest.mark.slow


def _queued_upload(session: requests.Session, base_url: str, response: requests.Response,
                   timeout: float = 60.0) -> dict:
    """Follow the page's own polling endpoint until preprocess has an outcome."""
    assert response.status_code == 302, response.text[:500]
    status_url = base_url + response.headers["Location"] + ".json"
    deadline = time.monotonic() + timeout
    while (status := session.get(status_url, timeout=30).json())["state"] == "validating":
        assert time.monotonic() < deadline, "preprocess did not finish"
        time.sleep(0.1)
    assert status["state"] == "queued", status
    return status


def _send_half_an_upload(web: LiveWeb, session: requests.Session) -> socket.socket:
    images = {"red": class_images(0, 10), "blue": class_images(1, 10)}
    data = {"csrf_token": "x", "project_name": "Half", "num_classes": "2"}
    files = [(f"class_{i}_files", (f, c, "image/png")) for i, v in enumerate(images.values()) for f, c in v]
    prepared = requests.Request("POST", web.url + "/image/train", data=data, files=files,
                                cookies=session.cookies).prepare()
    head = f"POST /image/train HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in prepared.headers.items()) + "\r\n"
    connection = socket.create_connection(("127.0.0.1", web.port))
    connection.sendall(head.encode() + prepared.body[: len(prepared.body) // 2])
    return connection


def test_a_killed_web_app_keeps_acknowledged_uploads_and_none_of_the_half_sent_one(
    storage: Storage, settings, tmp_path: Path
) -> None:
    web = LiveWeb(settings.storage, settings.cache_dir, tmp_path / "gunicorn.log")
    web.start()
    try:
        alice = signed_in_session(web.url, "alice")
        acknowledged = _queued_upload(alice, web.url, upload_images(
            alice, web.url, "Colours", {"red": class_images(0, 10), "blue": class_images(1, 10)}))
        half_sent = _send_half_an_upload(web, alice)
        web.kill()
        half_sent.close()
        web.start()

        # The same session cookie still works (the key is a setting, not per process) ...
        project_id = get_upload_status(storage, acknowledged["upload_id"]).project_id
        page = alice.get(f"{web.url}/projects/{project_id}", timeout=30)
        assert page.status_code == 200 and "Colours" in page.text
        # ... the acknowledged upload and its job are intact, the half-sent one left nothing ...
        assert get_job(storage, acknowledged["job_id"]).state == "queued"
        assert storage.list("uploads/") == [f"uploads/{acknowledged['upload_id']}.json"]
        assert storage.list("staging/") == []
        # ... and the next upload goes through.
        again = _queued_upload(alice, web.url, upload_images(
            alice, web.url, "Colours again", {"red": class_images(0, 10), "blue": class_images(1, 10)}))
        assert get_job(storage, again["job_id"]).state == "queued"
    finally:
        web.kill()


def test_an_upload_acknowledged_just_before_a_crash_is_preprocessed_after_the_restart(
    storage: Storage, settings, tmp_path: Path
) -> None:
    web = LiveWeb(settings.storage, settings.cache_dir, tmp_path / "gunicorn.log")
    web.start()
    try:
        alice = signed_in_session(web.url, "alice")
        # Enough photos that preprocess is still running when the acknowledgement arrives.
        acknowledged = upload_images(alice, web.url, "Big", {
            "red": class_images(0, 100), "blue": class_images(1, 100)})
        assert acknowledged.status_code == 302
        web.kill()
        upload_id = acknowledged.headers["Location"].rsplit("/", 1)[1]
        assert get_upload_status(storage, upload_id).state == "validating"

        web.start()

        status = _queued_upload(alice, web.url, acknowledged)
        project_id = get_upload_status(storage, upload_id).project_id
        assert [key.rsplit("/", 1)[1] for key in storage.list(f"projects/{project_id}/jobs/")] == [
            status["job_id"]]
        assert storage.list("staging/") == []
    finally:
        web.kill()
