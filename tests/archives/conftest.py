"""Real zips made by the tests, hostile ones included, and a view of everything stored."""

from __future__ import annotations

import io
import stat
import zipfile

from teachbox.storage import Storage


def make_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``entries`` (name -> bytes), names written exactly as given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def zip_with_symlink(name: str, target: str, others: dict[str, bytes]) -> bytes:
    """A zip whose entry ``name`` is a Unix symbolic link to ``target`` (as `zip -y` makes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for other, data in others.items():
            zf.writestr(other, data)
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return out.getvalue()


def stored_objects(storage: Storage) -> dict[str, bytes]:
    """Every object in storage with its bytes: compare before and after to see what changed."""
    return {key: storage.get(key) for key in storage.list("")}


# The preprocess tests' staged-upload fixture, reused as is.
from tests.preprocess.conftest import new_upload  # noqa: E402, F401

# A real trainer on the test folder, as the trainer tests use it.
from tests.trainer.conftest import trainer_settings, worker  # noqa: E402, F401

# The web app, its client and the flaskr-style actions of the web app tests.
from tests.webapp.conftest import app, auth, client, projects  # noqa: E402, F401
