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
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from teachbox.errors import TeachboxError, error_from_payload
from teachbox.settings import Settings
from teachbox.storage import Storage

__all__ = ["Invoker", "LocalInvoker", "LambdaInvoker", "create_invoker", "FUNCTIONS"]

_logger = logging.getLogger(__name__)

# Logical function name -> the package whose ``handle`` serves it.
FUNCTIONS = {"preprocess": "lambda_preprocess", "infer": "lambda_infer"}


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
        future = self._executor.submit(handle, payload, self.storage, self.settings)
        future.add_done_callback(_log_background_failure)
        self.futures = [f for f in self.futures if not f.done()] + [future]

    def wait(self, timeout: float | None = None) -> None:
        """Wait for background work (tests, shutdown)."""
        for future in list(self.futures):
            future.exception(timeout=timeout)


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
