"""One storage interface over a local folder or an S3 bucket.

Keys look the same on disk and in S3 (DESIGN.md "Storage layout"). Every write is atomic:
a reader sees the old object, the new one, or none, never half of one. ``create_if_absent``
is the one primitive used for claims and reservations: exactly one of several racing
writers wins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

__all__ = [
    "Storage",
    "LocalStorage",
    "S3Storage",
    "StorageError",
    "ObjectNotFound",
    "InvalidKey",
    "open_storage",
    "validate_key",
    "new_id",
]

_logger = logging.getLogger(__name__)

_KEY_PART = re.compile(r"^[A-Za-z0-9_@=+\-][A-Za-z0-9_.@=+\-]*$")
_MAX_KEY_LENGTH = 900


class StorageError(Exception):
    """The storage backend failed; the message says which key and what happened."""


class ObjectNotFound(StorageError, KeyError):
    """No object at that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "object not found"


class InvalidKey(StorageError, ValueError):
    """A key that could escape the storage root or is not portable between disk and S3."""


def validate_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is safe; raise InvalidKey otherwise.

    Safe means: relative, ``/``-separated parts of letters, digits and ``_.@=+-``, no part
    that starts with a dot (so no ``..``, and our temp files stay invisible), at most 900
    characters. A ``prefix`` may be empty or end with ``/``.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"Storage key must be a string, not {type(key).__name__}.")
    if prefix and key == "":
        return key
    if len(key) > _MAX_KEY_LENGTH:
        raise InvalidKey(f"Storage key is longer than {_MAX_KEY_LENGTH} characters.")
    body = key[:-1] if prefix and key.endswith("/") else key
    parts = body.split("/")
    if not body or any(not _KEY_PART.match(part) for part in parts):
        raise InvalidKey(f"Storage key {key!r} is not allowed (relative, no '..', no hidden parts).")
    return key


class Storage(ABC):
    """Put, get, list, delete and create-if-absent over keys (see ``validate_key``)."""

    url: str

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically, replacing any object there."""

    @abstractmethod
    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Write everything read from ``stream`` at ``key`` atomically; return the size."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Read the whole object. Raises ObjectNotFound."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads. Raises ObjectNotFound."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes. Raises ObjectNotFound."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (recursively), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def create_if_absent(self, key: str, data: bytes) -> bool:
        """Write ``data`` only if nothing is at ``key``. True if this call created it.

        Atomic between processes and machines: of several callers racing on one key,
        exactly one gets True, and the object is complete when it becomes visible.
        """

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; return how many."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def total_size(self, prefix: str) -> int:
        """Bytes stored under ``prefix`` (objects deleted while counting are skipped)."""
        total = 0
        for key in self.list(prefix):
            try:
                total += self.size(key)
            except ObjectNotFound:
                continue
        return total

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, _dump_json(value))

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

    def create_json_if_absent(self, key: str, value: Any) -> bool:
        return self.create_if_absent(key, _dump_json(value))


def _dump_json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")


class LocalStorage(Storage):
    """Objects are files under ``root``. Writes go to a hidden temp file in the same
    folder, are fsynced, then renamed (``os.replace``) or hard-linked into place."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = self.root.joinpath(*key.split("/"))
        # Belt and braces: validate_key already forbids '..'; symlinks could still escape.
        if self.root not in path.resolve().parents:
            raise InvalidKey(f"Storage key {key!r} escapes the storage folder.")
        return path

    @contextlib.contextmanager
    def _temp_beside(self, path: Path) -> Iterator[tuple[BinaryIO, Path]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp_path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle, tmp_path
        finally:
            tmp_path.unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._temp_beside(path) as (handle, tmp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, path)

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        path = self._path(key)
        with self._temp_beside(path) as (handle, tmp):
            shutil.copyfileobj(stream, handle, 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
            os.replace(tmp, path)
        return size

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"No object at {key!r}.") from None

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"No object at {key!r}.") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"No object at {key!r}.") from None

    def list(self, prefix: str) -> list[str]:
        validate_key(prefix, prefix=True)
        # Walk only the deepest folder the prefix names, then filter by the rest.
        folder_part, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*folder_part.split("/")) if folder_part else self.root
        if not base.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Prune empty folders up to the root so listings stay cheap.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def create_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        with self._temp_beside(path) as (handle, tmp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            try:
                # link() fails if the target exists, atomically, and the content is
                # complete before the name appears (O_EXCL would expose an empty file).
                os.link(tmp, path)
            except FileExistsError:
                return False
        return True


class S3Storage(Storage):
    """Objects in ``bucket`` under ``prefix``. S3 PUTs are atomic; create-if-absent is a
    conditional PUT with ``If-None-Match: *`` (DESIGN.md: checked with moto 5.2)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        import boto3  # deferred: local mode never needs it

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3")
        self.url = f"s3://{bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _not_found(self, error: Exception, key: str) -> StorageError:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return ObjectNotFound(f"No object at {key!r}.")
        return StorageError(f"S3 failed on {key!r}: {code or error}")

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        counter = _CountingReader(stream)
        self.client.upload_fileobj(counter, self.bucket, self._key(key))
        return counter.count

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            raise self._not_found(error, key) from error

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as error:
            raise self._not_found(error, key) from error

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            raise self._not_found(error, key) from error
        return int(head["ContentLength"])

    def list(self, prefix: str) -> list[str]:
        validate_key(prefix, prefix=True)
        paginator = self.client.get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"][len(self.prefix):] for obj in page.get("Contents", []))
        return sorted(keys)

    def total_size(self, prefix: str) -> int:
        # The listing carries every object's size: one LIST per 1000 keys instead of a HEAD
        # per key (measured on moto: 0.8 s instead of 8.4 s for 1000 keys).
        validate_key(prefix, prefix=True)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        return sum(obj["Size"] for page in pages for obj in page.get("Contents", []))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def create_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            # 412 when the object exists; 409 when a concurrent conditional write is in flight.
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise
        return True


class _CountingReader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.count += len(chunk)
        return chunk


def open_storage(url: str, *, region: str = "", endpoint_url: str = "") -> Storage:
    """Storage for ``file://DIR`` (relative DIR is relative to the working folder) or
    ``s3://BUCKET/PREFIX``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(url[len("file://"):])
    if parsed.scheme == "s3":
        import boto3

        client = boto3.client(
            "s3", region_name=region or None, endpoint_url=endpoint_url or None
        )
        return S3Storage(parsed.netloc, parsed.path, client=client)
    raise ValueError(f"Storage URL {url!r} must start with file:// or s3://.")


def new_id() -> str:
    """A short random identifier, safe as a key part."""
    return uuid.uuid4().hex[:16]
