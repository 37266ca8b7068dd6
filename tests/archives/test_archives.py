"""Reading a zip of class folders: the layout it gives, and every hostile archive refused by name."""

from __future__ import annotations

import io
import zipfile

import pytest

from teachbox.archives import ArchiveLimits, SafeZip, open_class_files, scan_zip
from teachbox.errors import ValidationFailed
from tests.archives.conftest import make_zip, zip_with_symlink
from tests.preprocess.corpus import drawn_image

PHOTO = drawn_image(1)


def _scan(data: bytes, kind: str = "image", limits: ArchiveLimits | None = None):
    return scan_zip(io.BytesIO(data), kind, limits)


def _messages(error: pytest.ExceptionInfo) -> list[str]:
    return [p.sentence() for p in error.value.problems]


def test_one_folder_per_class_gives_the_classes_and_their_files():
    layout = _scan(make_zip({"dog/b.jpg": PHOTO, "cat/a.jpg": PHOTO, "cat/c.jpg": PHOTO}))

    assert layout.classes == ["cat", "dog"]
    assert [(f.class_name, f.path, f.size) for f in layout.files] == [
        ("dog", "dog/b.jpg", len(PHOTO)), ("cat", "cat/a.jpg", len(PHOTO)), ("cat", "cat/c.jpg", len(PHOTO))]


def test_a_single_folder_wrapping_the_class_folders_is_looked_through():
    layout = _scan(make_zip({"My photos/cat/a.jpg": PHOTO, "My photos/dog/b.jpg": PHOTO}))

    assert layout.classes == ["cat", "dog"]
    assert [f.path for f in layout.files] == ["cat/a.jpg", "dog/b.jpg"]
    assert [f.entry for f in layout.files] == ["My photos/cat/a.jpg", "My photos/dog/b.jpg"]


def test_text_accepts_one_csv_per_class_named_after_it():
    data = make_zip({"reviews/positive.csv": b"text\ngood\n", "reviews/negative.csv": b"text\nbad\n"})

    layout = _scan(data, kind="text")

    assert layout.classes == ["negative", "positive"]


def test_junk_is_skipped_and_reported():
    layout = _scan(make_zip({
        "cat/a.jpg": PHOTO, "dog/b.jpg": PHOTO, "__MACOSX/cat/._a.jpg": b"junk", "cat/.DS_Store": b"junk",
        "dog/Thumbs.db": b"junk", "dog/desktop.ini": b"junk", "cat/.hidden.jpg": PHOTO,
    }))

    assert layout.classes == ["cat", "dog"]
    assert [f.path for f in layout.files] == ["cat/a.jpg", "dog/b.jpg"]
    assert layout.notes() == [
        "Skipped 5 system or hidden files in the archive (__MACOSX/cat/._a.jpg, cat/.DS_Store, "
        "dog/Thumbs.db, dog/desktop.ini, cat/.hidden.jpg)."]


@pytest.mark.parametrize("name", ["../evil.jpg", "cat/../../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg",
                                  "cat\\..\\..\\evil.jpg"])
def test_an_entry_escaping_the_root_is_refused_by_name(name):
    with pytest.raises(ValidationFailed, match="points outside the archive") as error:
        _scan(make_zip({"cat/a.jpg": PHOTO, name: PHOTO}))

    assert _messages(error) == [
        f"{name}: the entry points outside the archive (an absolute path, a drive letter or '..'). "
        "Make the archive again from the class folders themselves."]


def test_a_symbolic_link_entry_is_refused():
    data = zip_with_symlink("cat/passwd.jpg", "/etc/passwd", {"cat/a.jpg": PHOTO, "dog/b.jpg": PHOTO})

    with pytest.raises(ValidationFailed, match="cat/passwd.jpg: the entry is a symbolic link"):
        _scan(data)


def test_a_zip_bomb_is_stopped_by_the_bytes_it_really_produces():
    data = make_zip({"cat/a.jpg": PHOTO, "dog/bomb.jpg": bytes(50 * 1024 * 1024)})

    with pytest.raises(ValidationFailed, match=r"dog/bomb.jpg: the entry expands more than 200 times its "
                       r"compressed size \(a zip bomb\)"):
        _scan(data)


def test_an_archive_declaring_more_than_the_total_limit_is_refused_before_unpacking():
    data = make_zip({f"cat/{n}.jpg": drawn_image(n) for n in range(3)}, compression=zipfile.ZIP_STORED)
    limits = ArchiveLimits(max_total_bytes=2 * len(PHOTO) + 10, max_entry_bytes=10**6)

    with pytest.raises(ValidationFailed, match=r"the archive expands to 11.\d KB; the limit is 7.\d KB. "
                       "Import fewer or smaller files at a time."):
        _scan(data, limits=limits)


def test_an_entry_whose_declared_size_lies_is_not_trusted():
    honest = make_zip({"cat/a.jpg": PHOTO, "dog/b.jpg": bytes(4 * 1024 * 1024)})
    # Declare the zeros as 10 bytes, in the local header and the central directory alike.
    real = (4 * 1024 * 1024).to_bytes(4, "little")
    lying = honest.replace(real, (10).to_bytes(4, "little"))
    assert lying != honest

    with pytest.raises(ValidationFailed, match="dog/b.jpg: the entry is damaged and could not be unpacked"):
        _scan(lying)


def test_too_many_entries_are_refused_before_anything_is_unpacked():
    data = make_zip({f"cat/{n}.jpg": b"x" for n in range(6)})

    with pytest.raises(ValidationFailed, match="the archive has 6 entries; at most 5 are read"):
        _scan(data, limits=ArchiveLimits(max_entries=5))


def test_a_nested_archive_is_refused_by_its_name_and_by_its_content():
    inner = make_zip({"x.jpg": PHOTO})

    with pytest.raises(ValidationFailed) as error:
        _scan(make_zip({"cat/a.jpg": PHOTO, "cat/more.zip": inner}))
    assert _messages(error) == ["cat/more.zip: an archive inside the archive is not opened. "
                                "Unpack it and put its files in the class folders instead."]

    with pytest.raises(ValidationFailed, match="dog/disguised.jpg: an archive inside the archive"):
        _scan(make_zip({"cat/a.jpg": PHOTO, "dog/disguised.jpg": inner}))


def test_a_file_outside_any_class_folder_is_a_problem_naming_it():
    with pytest.raises(ValidationFailed, match="loose.jpg: the image is not inside a class folder"):
        _scan(make_zip({"cat/a.jpg": PHOTO, "dog/b.jpg": PHOTO, "loose.jpg": PHOTO}))


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(ValidationFailed, match="the file is not a zip archive, or it is damaged"):
        _scan(PHOTO)


def test_class_files_stream_the_same_bytes_the_scan_counted():
    data = make_zip({"wrap/cat/a.jpg": PHOTO, "wrap/dog/b.jpg": drawn_image(2)})
    layout = _scan(data)

    streamed = {f.path: stream.read() for f, stream in open_class_files(io.BytesIO(data), layout)}

    assert streamed == {"cat/a.jpg": PHOTO, "dog/b.jpg": drawn_image(2)}


def test_safe_zip_refuses_an_entry_escaping_the_root():
    with pytest.raises(ValidationFailed, match=r"\.\./project.json: the entry points outside the archive"):
        SafeZip(io.BytesIO(make_zip({"../project.json": b"{}"})), ArchiveLimits())


def test_text_also_accepts_a_folder_of_csv_files_per_class():
    data = make_zip({"positive/a.csv": b"text\ngood\n", "positive/b.txt": b"fine\n",
                     "negative/c.csv": b"bad\n"})

    layout = _scan(data, kind="text")

    assert layout.classes == ["negative", "positive"]
    assert [(f.class_name, f.path) for f in layout.files] == [
        ("positive", "positive/a.csv"), ("positive", "positive/b.txt"), ("negative", "negative/c.csv")]


def test_an_archive_without_class_folders_says_what_it_needs():
    with pytest.raises(ValidationFailed, match="the archive holds no class folders. Put each class's "
                       "examples in a folder named after the class."):
        _scan(make_zip({"__MACOSX/._x": b"junk", "empty/": b""}))
