"""Reading a zip of one folder per class safely, and writing datasets back in that layout.

A zip comes from someone else's computer, so nothing in it is trusted: entry names may point
outside the archive (``../``, ``/etc``, ``C:``), an entry may be a symlink, the sizes in its
directory may lie, and a few kB may expand to gigabytes. ``scan_zip`` checks every entry name
first, then decompresses every entry it will use while counting the bytes it actually gets
(never trusting the declared sizes), and raises ``ValidationFailed`` naming each bad entry
before the caller writes anything. ``open_class_files`` then streams the same entries, counted
again, for the caller to store.

The layout: one folder per class (``cat/1.jpg``), or for text one CSV per class
(``positive.csv``). A single folder wrapping the class folders (what "Compress" on a folder
makes) is looked through. The junk real archives carry (``__MACOSX/``, ``.DS_Store``,
``Thumbs.db``, ``desktop.ini``, hidden files) is skipped and reported. A browser's folder
upload (relative paths ``folder/cat/1.jpg``) goes through the same ``plan_layout``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from teachbox.datasets import DatasetManifest, sample_key
from teachbox.errors import Problem, ValidationFailed
from teachbox.ingest._sizes import human_size, too_large_reason
from teachbox.settings import Settings
from teachbox.storage import Storage

__all__ = [
    "ARCHIVE_FIELD",
    "ArchiveLimits",
    "archive_limits",
    "ArchiveLayout",
    "ClassFile",
    "SafeZip",
    "plan_layout",
    "scan_zip",
    "open_class_files",
    "dataset_entries",
    "folder_name",
    "text_csv",
    "write_zip",
]

_logger = logging.getLogger(__name__)

ARCHIVE_FIELD = "archive"  # the form field archive problems are shown next to
_CHUNK = 64 * 1024
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r"}
_JUNK_FOLDERS = {"__macosx"}
_ARCHIVE_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".jar")
# First bytes of the archive formats people nest (zip, gzip, 7z, rar, bzip2, xz, zstd).
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"BZh",
                  b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")
_TAR_MAGIC_OFFSET = 257
_DRIVE = re.compile(r"^[A-Za-z]:")
_TEXT_EXTENSIONS = (".csv", ".txt")
_UNSAFE_FOLDER_CHARS = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class ArchiveLimits:
    """How much of an archive is read. Bytes are counted while decompressing, so an entry
    that lies about its size is caught by what it really produces."""

    max_entries: int = 5000
    max_total_bytes: int = 1200 * 1024 * 1024
    max_entry_bytes: int = 15 * 1024 * 1024
    # Photos barely compress and CSVs shrink 3-10x; a thousand-fold is a bomb.
    max_ratio: int = 200
    # Below this, any ratio is harmless (a small file of blanks compresses a lot).
    ratio_floor_bytes: int = 1024 * 1024


def archive_limits(settings: Settings, kind: str) -> ArchiveLimits:
    """The limits for importing ``kind`` examples: an archive may hold what one upload may."""
    return ArchiveLimits(
        max_total_bytes=settings.max_upload_bytes,
        max_entry_bytes=settings.image_max_bytes if kind == "image" else settings.text_max_file_bytes,
    )


@dataclass(frozen=True)
class ClassFile:
    """One file the archive gives to a class: ``path`` is what the person sees (wrapping
    folder removed), ``entry`` the name to open it by."""

    class_name: str
    path: str
    entry: str = ""
    size: int = 0


@dataclass
class ArchiveLayout:
    classes: list[str]
    files: list[ClassFile]
    skipped: list[str] = field(default_factory=list)  # junk paths, reported not fatal

    def notes(self) -> list[str]:
        if not self.skipped:
            return []
        shown = ", ".join(self.skipped[:10]) + (f" and {len(self.skipped) - 10} more"
                                                 if len(self.skipped) > 10 else "")
        return [f"Skipped {len(self.skipped)} system or hidden file"
                f"{'' if len(self.skipped) == 1 else 's'} in the archive ({shown})."]

    def files_of(self, class_name: str) -> list[ClassFile]:
        return [f for f in self.files if f.class_name == class_name]


def _problem(item: str, reason: str, fix: str) -> Problem:
    return Problem(field=ARCHIVE_FIELD, item=item, reason=reason, fix=fix)


def _escapes_root(path: str) -> bool:
    parts = path.split("/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in parts or "\x00" in path


def _is_junk(parts: list[str]) -> bool:
    return (any(p.casefold() in _JUNK_FOLDERS for p in parts[:-1])
            or parts[-1].casefold() in _JUNK_NAMES
            or any(p.startswith(".") for p in parts))


def _is_archive_name(name: str) -> bool:
    return name.casefold().endswith(_ARCHIVE_EXTENSIONS)


def _nested_problem(path: str) -> Problem:
    return _problem(path, "an archive inside the archive is not opened",
                    "Unpack it and put its files in the class folders instead.")


def plan_layout(paths: Iterable[str], kind: str) -> ArchiveLayout:
    """Group relative file paths into classes by their first folder (text: also one CSV per
    class named after it), looking through one wrapping folder.

    Raises:
        ValidationFailed: every path escaping the root, nested archive and file outside a
            class folder, each named.
    """
    problems: list[Problem] = []
    kept: list[tuple[str, list[str]]] = []
    skipped: list[str] = []
    for raw in paths:
        path = raw.replace("\\", "/")
        if _escapes_root(path):
            problems.append(_problem(raw, "the entry points outside the archive (an absolute path, a "
                                     "drive letter or '..')", "Make the archive again from the class "
                                     "folders themselves."))
            continue
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or path.endswith("/"):
            continue  # a folder entry
        if _is_junk(parts):
            skipped.append(path)
        elif _is_archive_name(parts[-1]):
            problems.append(_nested_problem(path))
        else:
            kept.append((raw, parts))
    if problems:
        raise ValidationFailed(problems)

    def classed(parts: list[str]) -> bool:
        return len(parts) >= 2 or (kind == "text" and parts[0].casefold().endswith(_TEXT_EXTENSIONS))

    # "Compress folder" wraps everything in one folder: look through it while that still
    # leaves every file in a class.
    while (kept and len({p[0] for _, p in kept}) == 1
           and all(len(p) >= 2 and classed(p[1:]) for _, p in kept)):
        kept = [(raw, p[1:]) for raw, p in kept]
    files, classes = [], []
    for raw, parts in kept:
        if len(parts) >= 2:
            name = parts[0]
        elif classed(parts):
            name = parts[0].rsplit(".", 1)[0]
        else:
            what = "text file" if kind == "text" else "image"
            problems.append(_problem("/".join(parts), f"the {what} is not inside a class folder",
                                     "Put every file in a folder named after its class"
                                     + (", or name each CSV after its class." if kind == "text" else ".")))
            continue
        if name not in classes:
            classes.append(name)
        files.append(ClassFile(name, "/".join(parts), entry=raw))
    if not files and not problems:
        problems.append(_problem("", "the archive holds no class folders" + (" or CSV files" if kind == "text"
                                                                             else ""),
                                 "Put each class's examples in a folder named after the class."))
    if problems:
        raise ValidationFailed(problems)
    classes.sort(key=str.casefold)
    return ArchiveLayout(classes=classes, files=files, skipped=skipped)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _looks_like_archive(head: bytes) -> bool:
    tar = head[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar"
    return tar or any(head.startswith(magic) for magic in _ARCHIVE_MAGIC)


def _counted_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits,
                    total_before: int, path: str) -> Iterator[bytes]:
    """The entry's bytes, counted as they come: past the ratio or the archive's total the
    reading stops with ``ValidationFailed`` saying which limit."""
    produced = 0
    with zf.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            produced += len(chunk)
            if (produced > limits.ratio_floor_bytes
                    and produced > limits.max_ratio * max(info.compress_size, 1)):
                raise ValidationFailed([_problem(
                    path, f"the entry expands more than {limits.max_ratio} times its compressed size "
                    "(a zip bomb)", "Nothing was imported; make the archive again from the class folders.")])
            if total_before + produced > limits.max_total_bytes:
                raise ValidationFailed([_problem(path, "the archive expands to more than "
                                     f"{human_size(limits.max_total_bytes)}", "Import fewer or smaller "
                                     "files at a time.")])
            yield chunk


def _open_zip(file: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ValidationFailed([_problem("", "the file is not a zip archive, or it is damaged",
                                         "Make a .zip of the class folders and import that.")]) from None


def _check_entries(zf: zipfile.ZipFile, limits: ArchiveLimits) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ValidationFailed([_problem("", f"the archive has {len(infos)} entries; at most "
                                         f"{limits.max_entries} are read", "Import fewer files at a time.")])
    problems = []
    for info in infos:
        if _is_symlink(info):
            problems.append(_problem(info.filename, "the entry is a symbolic link",
                                     "Replace links with the files themselves."))
        elif info.flag_bits & 0x1:
            problems.append(_problem(info.filename, "the entry is encrypted",
                                     "Make the archive again without a password."))
    if problems:
        raise ValidationFailed(problems)
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_total_bytes:
        raise ValidationFailed([_problem("", f"the archive expands to {human_size(declared)}; the limit "
                                         f"is {human_size(limits.max_total_bytes)}",
                                         "Import fewer or smaller files at a time.")])
    by_path: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        by_path.setdefault(info.filename, info)
    return by_path


def scan_zip(file: BinaryIO, kind: str, limits: ArchiveLimits | None = None) -> ArchiveLayout:
    """Check a zip completely without writing anything; the layout of its class files.

    Entry names, links and encryption are checked first (nothing decompressed), then every
    file of the layout is decompressed and counted: the ratio and the archive's total are
    limits on the bytes really produced; an entry over ``max_entry_bytes``, a nested archive
    (by its first bytes) or a damaged entry is a problem naming it.

    Raises:
        ValidationFailed: every problem found (a bomb stops the reading at once).
    """
    limits = limits or ArchiveLimits()
    zf = _open_zip(file)
    with zf:
        by_path = _check_entries(zf, limits)
        layout = plan_layout(by_path, kind)
        problems, sized, total = [], [], 0
        for class_file in layout.files:
            full, info = class_file.entry, by_path[class_file.entry]
            size, head = 0, b""
            try:
                for chunk in _counted_chunks(zf, info, limits, total, full):
                    if len(head) < 512:
                        head += chunk[:512 - len(head)]
                    size += len(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError):
                problems.append(_problem(full, "the entry is damaged and could not be unpacked",
                                         "Make the archive again."))
                continue
            total += size
            if _looks_like_archive(head):
                problems.append(_nested_problem(full))
            elif size > limits.max_entry_bytes:
                problems.append(_problem(full, too_large_reason(size, limits.max_entry_bytes),
                                         "Use a smaller file or remove it."))
            sized.append(ClassFile(class_file.class_name, class_file.path, full, size))
        if problems:
            raise ValidationFailed(problems)
    layout.files = sized
    _logger.info("archive: %d files in %d classes, %s unpacked, %d skipped", len(sized),
                 len(layout.classes), human_size(total), len(layout.skipped))
    return layout


class _CountedReader(io.RawIOBase):
    """A file object over the counted chunks, for ``Storage.put_stream``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            self._buffer = next(self._chunks, b"")
            if not self._buffer:
                return 0
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count


def open_class_files(file: BinaryIO, layout: ArchiveLayout, limits: ArchiveLimits | None = None
                     ) -> Iterator[tuple[ClassFile, BinaryIO]]:
    """Each file of a scanned layout with a stream of its bytes, counted again with the same
    limits (the archive could have changed between the scan and now).

    Raises:
        ValidationFailed: the archive no longer matches its scan.
    """
    limits = limits or ArchiveLimits()
    with _open_zip(file) as zf:
        by_path = _check_entries(zf, limits)
        total = 0
        for class_file in layout.files:
            full = class_file.entry
            if full not in by_path:
                raise ValidationFailed([_problem(class_file.path, "the entry disappeared from the archive",
                                                 "Import the archive again.")])
            yield class_file, io.BufferedReader(
                _CountedReader(_counted_chunks(zf, by_path[full], limits, total, full)), _CHUNK)
            total += class_file.size


class SafeZip:
    """Any zip whose entry list was checked (count, declared total, links, encryption, names
    escaping the root), read one entry at a time with every byte counted against the limits."""

    def __init__(self, file: BinaryIO, limits: ArchiveLimits) -> None:
        self._limits = limits
        self._zf = _open_zip(file)
        self._by_path = _check_entries(self._zf, limits)
        escaping = [name for name in self._by_path if _escapes_root(name.replace("\\", "/"))]
        if escaping:
            self._zf.close()
            raise ValidationFailed([_problem(name, "the entry points outside the archive",
                                             "Export the project again; this archive was altered.")
                                    for name in escaping])
        self.total = 0

    @property
    def names(self) -> list[str]:
        """Every file entry (folders left out), in archive order."""
        return [name for name in self._by_path if not name.endswith("/")]

    def read(self, name: str) -> bytes:
        """The entry's bytes. Raises ValidationFailed past a limit or for a damaged entry."""
        out = io.BytesIO()
        try:
            for chunk in _counted_chunks(self._zf, self._by_path[name], self._limits, self.total, name):
                if out.tell() + len(chunk) > self._limits.max_entry_bytes:
                    raise ValidationFailed([_problem(name, "the entry is larger than "
                                                     f"{human_size(self._limits.max_entry_bytes)}",
                                                     "Nothing was imported.")])
                out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError):
            raise ValidationFailed([_problem(name, "the entry is damaged and could not be unpacked",
                                             "Export the project again.")]) from None
        self.total += out.tell()
        return out.getvalue()

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_name(class_name: str) -> str:
    """A class name as a folder name every system accepts (and our reader does not skip)."""
    name = _UNSAFE_FOLDER_CHARS.sub("_", class_name).strip().lstrip(".")
    return name or "class"


def text_csv(texts: Iterable[str]) -> bytes:
    """One class's texts as the CSV a text import reads: a ``text`` header, one row each."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text"])
    for text in texts:
        writer.writerow([text])
    return out.getvalue().encode("utf-8")


def dataset_entries(storage: Storage, manifest: DatasetManifest, class_index: int | None = None
                    ) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """A dataset (or one class of it) laid out as an import reads it: ``<class>/<sha256>.jpg``
    per image, ``<class>.csv`` per text class, so downloading and importing it again gives
    the same samples."""
    indexes = range(len(manifest.class_names)) if class_index is None else [class_index]
    for index in indexes:
        folder = folder_name(manifest.class_names[index])
        samples = [s for s in manifest.samples if s.class_index == index]
        if manifest.kind == "text":
            yield f"{folder}.csv", lambda samples=samples: text_csv(s.text for s in samples)
            continue
        for sample in samples:
            key = sample_key(manifest.project_id, manifest.dataset_id, sample)
            yield f"{folder}/{sample.sha256}.{sample.ext}", lambda key=key: storage.get(key)


def write_zip(out: BinaryIO, entries: Iterable[tuple[str, Callable[[], bytes]]]) -> None:
    """Write a zip of ``(path, read bytes)`` entries; each is read only when it is written,
    so a whole dataset never sits in memory. JPEGs are stored, everything else deflated."""
    with zipfile.ZipFile(out, "w") as zf:
        for path, read in entries:
            compression = (zipfile.ZIP_STORED if path.casefold().endswith((".jpg", ".jpeg", ".png"))
                           else zipfile.ZIP_DEFLATED)
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            zf.writestr(info, read())
