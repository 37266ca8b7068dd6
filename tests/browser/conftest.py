"""A real server and a real trainer on this machine, driven by Debian's headless Chromium.

The web app runs under werkzeug's threaded server on a free loopback port, the trainer runs
its normal (non-burst) loop in a thread, both on one temporary storage folder. Screenshots of
every step land in ``test-artifacts/<test name>/``.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from teachbox.settings import load_settings
from trainer.worker import Worker
from webapp import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    data = tmp_path_factory.mktemp("browser-data")
    settings = load_settings(env={}, storage=f"file://{data}", cache_dir=str(cache_dir),
                             secret_key="browser-test-secret", trainer_poll_seconds=0.2,
                             heartbeat_seconds=0.5)
    return create_app(settings)


@pytest.fixture(scope="session")
def base_url(live_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    live_app.extensions["teachbox"].invoker.wait(timeout=60)


@pytest.fixture(scope="session")
def trainer(live_app) -> Iterator[Worker]:
    services = live_app.extensions["teachbox"]
    worker = Worker(services.storage, services.settings, export=False)
    thread = threading.Thread(target=worker.work, name="trainer", daemon=True)
    thread.start()
    yield worker
    worker.request_stop()
    thread.join(timeout=120)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  # A synthetic camera that needs no permission prompt, for the webcam snapshot.
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        )
        yield browser
        browser.close()


class Session:
    """One person's browser window: a page, its console errors, and numbered screenshots."""

    def __init__(self, browser, base_url: str, folder: Path) -> None:
        self.context = browser.new_context(base_url=base_url, viewport={"width": 1200, "height": 900})
        self.context.set_default_timeout(60_000)  # a cap, not a wait: CI machines are busy
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.folder = folder
        self.shots = 0

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True)

    def register(self, username: str, password: str = "correct-horse") -> None:
        self.page.goto("/auth/register")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.fill("#confirm", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_url(re.compile(r"/$"))


@pytest.fixture
def session_factory(browser, base_url, request):
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sessions: list[Session] = []

    def make(label: str = "") -> Session:
        session = Session(browser, base_url, folder / label if label else folder)
        session.folder.mkdir(parents=True, exist_ok=True)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.context.close()
