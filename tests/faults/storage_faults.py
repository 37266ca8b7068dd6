"""Storage wrappers that inject faults at the Storage interface, over a real backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from teachbox.storage import Storage, StorageError

__all__ = ["InjectedFault", "InterceptedStorage", "FailingStorage"]


class InjectedFault(StorageError):
    """What a failing backend raises (S3 answering 500, a full disk)."""


class InterceptedStorage:
    """Delegates to ``inner``, calling ``before_put(key)`` ahead of every write."""

    def __init__(self, inner: Storage, before_put: Callable[[str], None]) -> None:
        self.inner = inner
        self.before_put = before_put

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes) -> None:
        self.before_put(key)
        self.inner.put(key, data)

    def put_json(self, key: str, value: Any) -> None:
        self.before_put(key)
        self.inner.put_json(key, value)

    def put_stream(self, key: str, stream) -> int:
        self.before_put(key)
        return self.inner.put_stream(key, stream)


class FailingStorage:
    """Delegates to ``inner`` but fails the ``nth`` call (1-based) of ``operation`` whose key
    contains ``where``; other calls, before and after, go through."""

    def __init__(self, inner: Storage, operation: str, nth: int, where: str = "") -> None:
        self.inner = inner
        self.operation = operation
        self.nth = nth
        self.where = where
        self.calls = 0
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in (self.operation, f"{self.operation}_json", f"{self.operation}_stream"):
            return method

        def counted(key: str, *args: Any, **kwargs: Any) -> Any:
            if self.where in key:
                with self._lock:
                    self.calls += 1
                    fail = self.calls == self.nth
                if fail:
                    self.failed.append(key)
                    raise InjectedFault(f"injected failure of {name} {key}")
            return method(key, *args, **kwargs)

        return counted
