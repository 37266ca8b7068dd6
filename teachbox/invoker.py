"""How the web app reaches the preprocess and inference handlers.

Local mode calls the very function the Lambda handler calls, in this process (``call``)
or on a worker thread (``start``). AWS mode invokes the named Lambda with boto3:
``RequestResponse`` for ``call``, ``Event`` for ``start``. Each handler package exposes
``handle(payload, storage, settings) -> dict``, raising TeachboxError for bad requests.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import socket
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from teachbox.errors import NotFound, TeachboxError, error_from_payload
from teachbox.settings import Settings
from teachbox.storage import ObjectNotFound, Storage
from teachbox.uploads import UploadState, get_upload_status, staging_prefix

__all__ = ["Invoker", "LocalInvoker", "LambdaInvoker", "create_invoker", "FUNCTIONS"]

_logger = logging.getLogger(__name__)

# Logical function name -> the package whose ``handle`` serves it.
FUNCTIONS = {"preprocess": "lambda_preprocess", "infer": "lambda_infer"}
# The same name the preprocess Lambda reads from an S3 event (lambda_preprocess.handler).
_REQUEST_NAME = "request.json"
_UPLOAD_ID = re.compile(r"[0-9a-f]{16}")


class Invoker(ABC):
    @abstractmethod
    def call(self, function: str, payload: dict) -> dict:
        """Run ``function`` and return its result; raises the TeachboxError it raised."""

    @abstractmethod
    def start(self, function: str, payload: dict) -> None:
        """Run ``function`` in the background; its outcome is written to storage."""


def _check_name(function: str) -> str:
    if function not in FUNCTIONS:
        raise ValueError(f"Unknown function {function!r}; use one of: {', '.join(FUNCTIONS)}.")
    return function


class LocalInvoker(Invoker):
    def __init__(self, storage: Storage, settings: Settings, workers: int = 2) -> None:
        self.storage = storage
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="invoke")
        self.futures: list[Future] = []

    def _handle(self, function: str) -> Any:
        return importlib.import_module(FUNCTIONS[_check_name(function)]).handle

    def call(self, function: str, payload: dict) -> dict:
        return self._handle(function)(payload, self.storage, self.settings)

    def start(self, function: str, payload: dict) -> None:
        handle = self._handle(function)
        upload_id = str(payload.get("upload_id", "")) if function == "preprocess" else ""
        if _UPLOAD_ID.fullmatch(upload_id):
            # The run lives only in this process: keep the request (preprocess removes it with
            # the staging files) so a restart after a crash can run it again.
            self.storage.put_json(staging_prefix(upload_id) + _REQUEST_NAME,
                                  {"payload": payload, "host": socket.gethostname(), "pid": os.getpid()})
        future = self._executor.submit(handle, payload, self.storage, self.settings)
        future.add_done_callback(_log_background_failure)
        self.futures = [f for f in self.futures if not f.done()] + [future]

    def resume_interrupted_uploads(self) -> list[str]:
        """Start preprocess again for every upload whose run died with its process (killed
        web app) before recording an outcome. Returns their upload ids.

        Only runs started on this host by a process that no longer exists are taken, each by one
        caller (create-if-absent), so two gunicorn workers starting together do not both run it.
        """
        resumed = []
        for key in self.storage.list("staging/"):
            parts = key.split("/")
            if len(parts) != 3 or parts[2] != _REQUEST_NAME:
                continue
            try:
                request = self.storage.get_json(key)
                status = get_upload_status(self.storage, parts[1])
            except (NotFound, ObjectNotFound, ValueError):
                continue
            if (status.state != UploadState.VALIDATING or request.get("host") != socket.gethostname()
                    or _process_alive(int(request.get("pid", 0)))):
                continue
            marker = f"{staging_prefix(parts[1])}resumed-{request.get('pid', 0)}"
            if not self.storage.create_if_absent(marker, str(os.getpid()).encode()):
                continue
            _logger.warning("upload %s: its preprocess died with process %s; running it again",
                            parts[1], request.get("pid"))
            self.start("preprocess", request["payload"])
            resumed.append(parts[1])
        return resumed

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background work (tests, shutdown)."""
        for future in list(self.futures):
            future.exception(timeout=timeout)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that id now
        return True
    try:  # a killed process whose parent has not reaped it yet is a zombie: dead, not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _log_background_failure(future: Future) -> None:
    error = future.exception()
    if error is not None and not isinstance(error, TeachboxError):
        _logger.error("background invocation failed", exc_info=error)


class LambdaInvoker(Invoker):
    def __init__(self, settings: Settings, client: Any = None) -> None:
        import boto3

        self.settings = settings
        self.client = client or boto3.client("lambda", region_name=settings.aws_region)
        self.names = {"preprocess": settings.preprocess_function, "infer": settings.infer_function}

    def call(self, function: str, payload: dict) -> dict:
        response = self.client.invoke(
            FunctionName=self.names[_check_name(function)],
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        result = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError") or result.get("ok") is False:
            raise error_from_payload(result)
        return result

    def start(self, function: str, payload: dict) -> None:
        self.client.invoke(
            FunctionName=self.names[_check_name(function)],
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )


def create_invoker(storage: Storage, settings: Settings) -> Invoker:
    return LambdaInvoker(settings) if settings.invoker == "lambda" else LocalInvoker(storage, settings)
