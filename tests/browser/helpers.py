"""What the browser tests share: pictures to upload and watching a job to its end."""

from __future__ import annotations

import io
import random
import re

from PIL import Image

TRAINING_TIMEOUT_MS = 180_000


def noisy_png(seed: int, color: tuple[int, int, int]) -> bytes:
    """A 64x64 patch of ``color`` with random specks, so no two uploads are duplicates."""
    rng = random.Random(seed)
    image = Image.new("RGB", (64, 64), color)
    for _ in range(40):
        image.putpixel((rng.randrange(64), rng.randrange(64)), tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png_files(prefix: str, color: tuple[int, int, int], count: int, seed: int) -> list[dict]:
    """Files in the shape Playwright's ``set_input_files`` takes."""
    return [{"name": f"{prefix}{n:02d}.png", "mimeType": "image/png", "buffer": noisy_png(seed + n, color)}
            for n in range(count)]


def watch_training(session) -> None:
    """Wait on the job page until the job has succeeded, with a screenshot at each end."""
    page = session.page
    page.wait_for_url(re.compile(r"/projects/\w+/jobs/"), timeout=60_000)
    session.shot("job-status")
    page.wait_for_selector("#job-done:not([hidden])", timeout=TRAINING_TIMEOUT_MS)
    assert page.inner_text("#job-state") == "succeeded"
    session.shot("job-finished")
