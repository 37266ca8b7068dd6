"""Helpers shared by the record modules: timestamps and dataclass <-> JSON."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = ["now", "iso", "from_dict"]

T = TypeVar("T")


def now() -> float:
    """Seconds since the epoch; every record stores times as these floats."""
    return time.time()


def iso(timestamp: float | None) -> str:
    """A readable UTC time for pages and logs ('' for None)."""
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from stored JSON, ignoring keys a newer writer added."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
