"""The storage contract, run against a real folder and against S3 (moto over HTTP)."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from teachbox.storage import InvalidKey, LocalStorage, ObjectNotFound, Storage, open_storage


def test_put_then_get_returns_the_same_bytes(any_storage: Storage) -> None:
    any_storage.put("a/b/c.bin", b"\x00\x01hello")
    assert any_storage.get("a/b/c.bin") == b"\x00\x01hello"
    assert any_storage.size("a/b/c.bin") == 7


def test_put_replaces_an_existing_object(any_storage: Storage) -> None:
    any_storage.put("k.txt", b"old")
    any_storage.put("k.txt", b"new")
    assert any_storage.get("k.txt") == b"new"


def test_put_stream_writes_what_it_reads_and_returns_the_size(any_storage: Storage) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert any_storage.put_stream("big/blob", io.BytesIO(data)) == len(data)
    with any_storage.open("big/blob") as handle:
        assert handle.read() == data


def test_get_of_a_missing_key_raises_object_not_found(any_storage: Storage) -> None:
    with pytest.raises(ObjectNotFound, match="No object at 'nope/x'"):
        any_storage.get("nope/x")
    with pytest.raises(ObjectNotFound):
        any_storage.open("nope/x")
    assert not any_storage.exists("nope/x")


def test_list_returns_every_key_under_a_prefix_sorted(any_storage: Storage) -> None:
    for key in ("p/2.json", "p/1.json", "p/sub/3.json", "pq/4.json", "other/5.json"):
        any_storage.put(key, b"x")
    assert any_storage.list("p/") == ["p/1.json", "p/2.json", "p/sub/3.json"]
    assert any_storage.list("p") == ["p/1.json", "p/2.json", "p/sub/3.json", "pq/4.json"]
    assert any_storage.list("missing/") == []


def test_delete_is_idempotent_and_delete_prefix_counts(any_storage: Storage) -> None:
    any_storage.put("d/1", b"1")
    any_storage.put("d/2", b"2")
    any_storage.delete("d/1")
    any_storage.delete("d/1")
    assert any_storage.list("d/") == ["d/2"]
    assert any_storage.delete_prefix("d/") == 1
    assert any_storage.list("d/") == []


def test_json_round_trip_keeps_unicode(any_storage: Storage) -> None:
    any_storage.put_json("j.json", {"name": "çà ✓", "n": [1, 2]})
    assert any_storage.get_json("j.json") == {"name": "çà ✓", "n": [1, 2]}


def test_create_if_absent_succeeds_once(any_storage: Storage) -> None:
    assert any_storage.create_if_absent("claims/job1", b"first") is True
    assert any_storage.create_if_absent("claims/job1", b"second") is False
    assert any_storage.get("claims/job1") == b"first"


def test_two_threads_racing_for_one_claim_exactly_one_wins(any_storage: Storage) -> None:
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def race(index: int) -> None:
        barrier.wait()
        if any_storage.create_if_absent("jobs/claims/race/000001.json", str(index).encode()):
            winners.append(index)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert any_storage.get("jobs/claims/race/000001.json") == str(winners[0]).encode()


def _claim_in_process(root: str, index: int, start: multiprocessing.Event) -> bool:
    start.wait()
    return LocalStorage(root).create_if_absent("claims/proc", str(index).encode())


def test_processes_racing_for_one_claim_on_disk_exactly_one_wins(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(4) as pool:
            results = [pool.apply_async(_claim_in_process, (str(tmp_path), i, start))
                       for i in range(4)]
            start.set()
            outcomes = [r.get(timeout=60) for r in results]
    assert outcomes.count(True) == 1


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../b", "/etc/passwd", "a//b", "a/./b", ".hidden", "a/.tmp", "",
     "back\\slash", "spa ce", "nul\x00byte", "x" * 901],
)
def test_unsafe_keys_are_refused(any_storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        any_storage.put(key, b"x")


def test_a_symlink_cannot_lead_outside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    storage = LocalStorage(root)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidKey, match="escapes"):
        storage.put("link/file", b"x")
    assert list((tmp_path / "outside").iterdir()) == []


_WRITE_THEN_DIE = """
import io, os, sys
from teachbox.storage import LocalStorage

class DiesHalfway(io.RawIOBase):
    sent = 0
    def readable(self): return True
    def readinto(self, buffer):
        if self.sent >= 2 * 1024 * 1024:
            os._exit(9)  # the process dies in the middle of the write
        n = min(len(buffer), 256 * 1024)
        buffer[:n] = b"n" * n
        self.sent += n
        return n

LocalStorage(sys.argv[1]).put_stream("obj", DiesHalfway())
"""


def test_a_crash_in_the_middle_of_a_write_leaves_no_partial_object(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("obj", b"old complete value")
    result = subprocess.run([sys.executable, "-c", _WRITE_THEN_DIE, str(tmp_path)], check=False)
    assert result.returncode == 9
    assert storage.get("obj") == b"old complete value"
    assert storage.list("") == ["obj"]  # the dead writer's temp file is invisible


def test_an_interrupted_s3_upload_leaves_no_partial_object(s3_storage: Storage) -> None:
    class FailsHalfway(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:
            if self.sent >= 12 * 1024 * 1024:
                raise OSError("connection to the uploader lost")
            n = min(len(buffer), 1024 * 1024)
            buffer[:n] = b"n" * n
            self.sent += n
            return n

    with pytest.raises(OSError, match="connection"):
        s3_storage.put_stream("obj", FailsHalfway())
    assert not s3_storage.exists("obj")


def test_open_storage_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    with pytest.raises(ValueError, match="must start with file:// or s3://"):
        open_storage("ftp://x")


def test_total_size_counts_every_object_under_the_prefix_and_nothing_else(any_storage: Storage) -> None:
    any_storage.put("projects/aaaaaaaaaaaaaaaa/datasets/d/samples/0/x.jpg", b"x" * 1500)
    any_storage.put("projects/aaaaaaaaaaaaaaaa/project.json", b"{}")
    any_storage.put("projects/bbbbbbbbbbbbbbbb/project.json", b"{" + b" " * 98 + b"}")
    assert any_storage.total_size("projects/aaaaaaaaaaaaaaaa/") == 1502
    assert any_storage.total_size("projects/bbbbbbbbbbbbbbbb/") == 100
    assert any_storage.total_size("projects/cccccccccccccccc/") == 0
