"""File sizes as people read them, shared by the image and text rules."""

from __future__ import annotations

__all__ = ["human_size", "too_large_reason"]


def human_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def too_large_reason(size: int, max_bytes: int) -> str:
    return f"the file is {human_size(size)}; the limit is {human_size(max_bytes)}"
