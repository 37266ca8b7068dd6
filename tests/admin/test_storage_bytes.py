"""Storage used per project, counted the same on a folder and on S3."""

from __future__ import annotations

from teachbox.admin import storage_bytes


def test_storage_bytes_counts_every_object_under_the_prefix_and_nothing_else(any_storage):
    any_storage.put("projects/aaaaaaaaaaaaaaaa/datasets/d/samples/0/x.jpg", b"x" * 1500)
    any_storage.put("projects/aaaaaaaaaaaaaaaa/project.json", b"{}")
    any_storage.put("projects/bbbbbbbbbbbbbbbb/project.json", b"{" + b" " * 98 + b"}")
    assert storage_bytes(any_storage, "projects/aaaaaaaaaaaaaaaa/") == 1502
    assert storage_bytes(any_storage, "projects/bbbbbbbbbbbbbbbb/") == 100
    assert storage_bytes(any_storage, "projects/cccccccccccccccc/") == 0
