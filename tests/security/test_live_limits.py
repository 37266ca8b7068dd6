"""Limits the production server (gunicorn) enforces before it reads a request body."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.live_web import LiveWeb, signed_in_session

TOO_LARGE = "This upload is too large"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[LiveWeb]:
    data = tmp_path_factory.mktemp("live-data")
    web = LiveWeb(f"file://{data}", str(cache_dir), data / "gunicorn.log")
    web.start()
    yield web
    web.kill()


def _headers_only(web: LiveWeb, path: str, content_length: int, cookie: str = "") -> str:
    """Send a POST's headers promising ``content_length`` bytes, send none, read the answer.
    A server that tried to read the body first would never answer: the timeout fails the test."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {content_length}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
    with socket.create_connection(("127.0.0.1", web.port), timeout=15) as connection:
        connection.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or TOO_LARGE.encode() not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode("utf-8", "replace")


def test_a_huge_upload_is_refused_with_413_from_its_headers_alone(web: LiveWeb) -> None:
    session = signed_in_session(web.url, "alice")
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)

    answer = _headers_only(web, "/image/train", 10 * 1024**3, cookie)

    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert TOO_LARGE in answer


def test_a_huge_anonymous_post_is_refused_before_anything_is_read(web: LiveWeb) -> None:
    answer = _headers_only(web, "/auth/login", 10 * 1024**3)

    assert answer.startswith("HTTP/1.1 413"), answer[:200]
