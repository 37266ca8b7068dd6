"""An upload whose in-process preprocess died with its web app process is run again, once,
when a web app process starts on the same host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from teachbox.invoker import LocalInvoker
from teachbox.jobs import list_jobs
from teachbox.settings import Settings
from teachbox.storage import Storage
from teachbox.uploads import get_upload_status, staging_prefix
from tests.preprocess.corpus import StagedUpload


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    return int(finished.stdout)


def _interrupted_upload(storage: Storage, pid: int) -> StagedUpload:
    """What a web app process leaves when it is killed right after acknowledging an upload."""
    upload = StagedUpload(storage, "image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, 50)
    upload.mark_validating()
    storage.put_json(staging_prefix(upload.upload_id) + "request.json",
                     {"payload": upload.payload(), "host": socket.gethostname(), "pid": pid})
    return upload


def test_two_starting_processes_run_an_interrupted_upload_exactly_once(
    storage: Storage, settings: Settings
) -> None:
    upload = _interrupted_upload(storage, _dead_pid())
    first, second = LocalInvoker(storage, settings), LocalInvoker(storage, settings)

    resumed = first.resume_interrupted_uploads() + second.resume_interrupted_uploads()
    first.wait(timeout=120)
    second.wait(timeout=120)

    assert resumed == [upload.upload_id]
    assert get_upload_status(storage, upload.upload_id).state == "queued"
    assert len(list_jobs(storage)) == 1
    assert storage.list("staging/") == []


def test_an_upload_whose_process_still_runs_is_left_to_it(storage: Storage, settings: Settings) -> None:
    upload = _interrupted_upload(storage, os.getpid())

    assert LocalInvoker(storage, settings).resume_interrupted_uploads() == []
    assert get_upload_status(storage, upload.upload_id).state == "validating"
