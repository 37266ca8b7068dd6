"""Importing class folders from the Train page in headless Chromium, on the real server and trainer."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.browser.helpers import noisy_png, watch_training

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20)}


def _zip(extra: dict[str, bytes] | None = None) -> bytes:
    """What 'Compress' on a folder of class folders makes, macOS junk included."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for c, (name, colour) in enumerate(COLOURS.items()):
            for n in range(12):
                zf.writestr(f"Lights/{name}/{name}{n:02d}.png", noisy_png(c * 100 + n, colour))
        zf.writestr("__MACOSX/Lights/red/._red00.png", b"junk")
        for entry, data in (extra or {}).items():
            zf.writestr(entry, data)
    return out.getvalue()


def test_a_zip_of_class_folders_imported_on_the_train_page_trains_a_model(session_factory, trainer):
    session = session_factory()
    page = session.page
    session.register("zoe")
    page.click("nav >> text=Image")
    page.fill("#import-project_name", "Traffic light from a zip")
    page.set_input_files("#import-archive", {"name": "lights.zip", "mimeType": "application/zip",
                                             "buffer": _zip()})
    assert page.inner_text("[data-import-chosen]") == "lights.zip chosen"
    session.shot("import-chosen")
    page.click("#import-submit")

    watch_training(session)
    page.goto(page.url.split("/jobs/")[0])
    assert page.locator("table.table >> text=green").count() == 1
    assert page.locator("table.table >> text=red").count() == 1
    assert page.locator("#download-examples").count() == 1
    session.shot("project-page")
    assert session.console_errors == []


def test_a_hostile_zip_comes_back_with_the_entry_named(session_factory):
    session = session_factory()
    page = session.page
    session.register("yuri")
    page.click("nav >> text=Image")
    page.fill("#import-project_name", "Sneaky")
    page.set_input_files("#import-archive", {"name": "sneaky.zip", "mimeType": "application/zip",
                                             "buffer": _zip({"../../etc/cron.png": b"x"})})
    page.click("#import-submit")

    page.wait_for_selector(".problems")
    assert "../../etc/cron.png: the entry points outside the archive" in page.inner_text(".problems")
    session.shot("rejected")


def test_a_chosen_folder_is_sent_with_its_class_folders(session_factory, trainer, tmp_path: Path):
    for c, (name, colour) in enumerate(COLOURS.items()):
        (tmp_path / "Lights" / name).mkdir(parents=True)
        for n in range(10):
            picture = noisy_png(500 + c * 100 + n, colour)
            (tmp_path / "Lights" / name / f"{name}{n:02d}.png").write_bytes(picture)
    session = session_factory()
    page = session.page
    session.register("xena")
    page.click("nav >> text=Image")
    page.fill("#import-project_name", "Traffic light from a folder")
    page.set_input_files("#import-folder", str(tmp_path / "Lights"))
    assert page.inner_text("[data-import-chosen]") == "20 files from the folder"
    session.shot("folder-chosen")
    page.click("#import-submit")

    watch_training(session)  # the project page then shows one settled state, not a race
    page.goto(page.url.split("/jobs/")[0])
    assert page.locator("table.table >> text=green").count() == 1
    session.shot("project-page")
    assert session.console_errors == []
