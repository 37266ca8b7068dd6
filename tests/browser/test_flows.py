"""End to end in headless Chromium: what a person does, on the real server and trainer."""

from __future__ import annotations

import random
import re

import pytest

from teachbox.projects import create_project
from tests.browser.helpers import noisy_png, png_files, watch_training

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def _sentences(words: list[str], subjects: list[str], count: int) -> str:
    rng = random.Random(len(words[0]))
    lines = set()
    while len(lines) < count:
        lines.add(f"The {rng.choice(subjects)} was {rng.choice(words)} and {rng.choice(words)} "
                  f"on day {rng.randrange(1000)}")
    return "\n".join(sorted(lines))


def test_image_project_from_upload_to_prediction(session_factory, trainer):
    session = session_factory()
    page = session.page
    session.register("ada")
    page.click("nav >> text=Image")
    page.fill("#project_name", "Traffic light")
    page.fill("#class_0_name", "red")
    page.fill("#class_1_name", "green")
    page.set_input_files("#class_0_files", png_files("red", (220, 20, 20), 12, 0))
    page.set_input_files("#class_1_files", png_files("green", (20, 200, 20), 12, 100))
    assert page.inner_text("[data-dropzone]:has(#class_0_files) [data-count]") \
        .startswith("12 images chosen")
    assert page.locator("[data-thumbs] img").count() == 24
    session.shot("train-form-filled")
    page.click("#submit")
    watch_training(session)

    page.click("#job-details")
    page.wait_for_selector("#accuracy")
    assert re.fullmatch(r"\d+\.\d%", page.inner_text("#accuracy"))
    assert page.locator("#confusion rect").count() == 4
    assert page.locator("#per-class tbody tr").count() == 2
    session.shot("details")

    page.click("text=Try it")
    page.set_input_files("#image", {"name": "probe.png", "mimeType": "image/png",
                                    "buffer": noisy_png(999, (230, 30, 30))})
    page.wait_for_selector("#preview:not([hidden])")
    page.click("#submit")
    page.wait_for_selector("#top-label")
    assert page.inner_text("#top-label").startswith("red")
    assert page.locator(".bars meter").count() == 2
    session.shot("prediction")

    page.click("#camera-start")
    page.wait_for_selector("#camera-snap:not([hidden])")
    page.click("#camera-snap")
    page.wait_for_selector("#classified")
    assert page.inner_text("#top-label").split()[0] in ("red", "green")
    session.shot("webcam-prediction")

    page.click("nav >> text=Projects")
    assert page.locator(".project-card").count() == 1
    page.click(".project-card a")
    assert page.get_by_role("heading", name="Model versions").count() == 1
    session.shot("project-page")
    assert session.console_errors == []


def test_text_project_from_pasted_lines_to_prediction(session_factory, trainer):
    session = session_factory()
    page = session.page
    session.register("grace")
    page.click("nav >> text=Text")
    page.fill("#project_name", "Reviews")
    page.fill("#class_0_name", "happy")
    page.fill("#class_1_name", "angry")
    subjects = ["meal", "service", "room", "film", "concert", "trip", "phone", "book"]
    page.fill("#class_0_text", _sentences(["wonderful", "lovely", "delightful", "great", "superb"],
                                          subjects, 120))
    page.fill("#class_1_text", _sentences(["awful", "terrible", "horrible", "dreadful", "rude"],
                                          subjects, 120))
    session.shot("train-form-filled")
    page.click("#submit")
    watch_training(session)

    page.click("#job-details")
    page.wait_for_selector("#accuracy")
    assert page.locator("#per-class tbody tr").count() == 2
    session.shot("details")

    page.click("text=Try it")
    page.fill("#text", "The service was wonderful and lovely")
    page.click("#submit")
    page.wait_for_selector("#top-label")
    assert page.inner_text("#top-label").startswith("happy")
    session.shot("prediction")
    assert session.console_errors == []


def test_class_fields_follow_the_number_of_classes_at_once(session_factory):
    session = session_factory()
    page = session.page
    session.register("linus")
    page.goto("/image/train")
    assert not page.is_visible("#resize")
    page.fill("#num_classes", "5")
    assert page.locator(".class-block").count() == 5
    assert page.inner_text(".class-block >> nth=4 >> legend") == "Class 5"
    assert page.locator("#class_4_files").count() == 1
    page.fill("#num_classes", "3")
    assert page.locator(".class-block").count() == 3
    session.shot("five-then-three-classes")


def test_the_train_page_fits_a_phone_screen(session_factory):
    session = session_factory()
    page = session.page
    session.register("sophie")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/image/train")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    session.shot("phone-width")


def test_form_errors_appear_next_to_their_fields_without_leaving_the_page(session_factory):
    session = session_factory()
    page = session.page
    session.register("barbara")
    page.goto("/image/train")
    page.fill("#class_0_name", "cats")
    page.fill("#class_1_name", "Cats")
    page.set_input_files("#class_0_files", png_files("cat", (200, 200, 200), 3, 0))
    page.click("#submit")
    page.wait_for_selector("#field-project_name .errors li")
    assert page.inner_text("#field-project_name .errors") == "Give the project a name."
    assert "'cats' has 3 images; add at least 7 more" in page.inner_text("#field-class_0_files .errors")
    assert "already called 'cats'" in page.inner_text("#field-class_1_name .errors")
    assert page.url.endswith("/image/train")
    session.shot("errors-next-to-fields")


def test_the_train_form_works_without_javascript_in_two_steps(browser, base_url, session_factory):
    session = session_factory()
    session.context.close()
    session.context = browser.new_context(base_url=base_url, java_script_enabled=False)
    session.page = session.context.new_page()
    page = session.page
    session.register("edsger")
    page.goto("/text/train")
    page.fill("#project_name", "Moods")
    page.fill("#num_classes", "3")
    page.click("#resize")
    assert page.locator(".class-block").count() == 3
    assert page.input_value("#project_name") == "Moods"
    session.shot("second-step")


def test_a_second_user_gets_not_found_on_the_first_users_project(session_factory, live_app):
    storage = live_app.extensions["teachbox"].storage
    project = create_project(storage, "someone", "Private", "image", ["a", "b"])
    session = session_factory()
    session.register("mallory")
    for path in (f"/projects/{project.id}", f"/projects/{project.id}/details",
                 f"/projects/{project.id}/predict"):
        response = session.page.goto(path)
        assert response.status == 404
        assert session.page.inner_text("h1") == "Not found"
    session.shot("not-found")
