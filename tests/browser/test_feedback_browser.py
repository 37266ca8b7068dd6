"""The feedback loop in headless Chromium: predict, correct the answer, see it pending on the
project page, retrain, and find the corrected input in the new dataset. And the admin
dashboard's confirmation step, as an operator clicks through it."""

from __future__ import annotations

import re

import pytest

from teachbox.datasets import load_manifest
from teachbox.feedback import list_pending
from teachbox.jobs import list_project_jobs
from teachbox.projects import list_projects
from teachbox.users import create_user, get_user
from tests.browser.helpers import noisy_png, png_files, watch_training

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_corrected_prediction_joins_the_next_dataset(session_factory, trainer, live_app):
    storage = live_app.extensions["teachbox"].storage
    session = session_factory()
    page = session.page
    session.register("fiona")
    page.click("nav >> text=Image")
    page.fill("#project_name", "Lights")
    page.fill("#class_0_name", "red")
    page.fill("#class_1_name", "green")
    page.set_input_files("#class_0_files", png_files("red", (220, 20, 20), 12, 300))
    page.set_input_files("#class_1_files", png_files("green", (20, 200, 20), 12, 400))
    page.click("#submit")
    watch_training(session)
    [project] = list_projects(storage, owner="fiona")

    page.goto(f"/projects/{project.id}/predict")
    page.set_input_files("#image", {"name": "probe.png", "mimeType": "image/png",
                                    "buffer": noisy_png(777, (200, 40, 40))})
    page.click("#submit")
    page.wait_for_selector("#feedback")
    predicted = page.inner_text("#top-label").split()[0]
    corrected = "green" if predicted == "red" else "red"
    session.shot("prediction-with-feedback")
    page.select_option("#correct-class", label=corrected)
    page.click("#feedback-correct-submit")
    page.wait_for_selector(f"text=Added to '{corrected}' as a pending example")
    session.shot("correction-added")

    page.goto(f"/projects/{project.id}")
    assert page.locator(".pending-example").count() == 1
    assert page.get_attribute(".pending-example", "data-class") == corrected
    assert page.evaluate("document.querySelector('.pending-example img').naturalWidth") > 0
    session.shot("project-with-pending")
    [pending] = list_pending(storage, project)
    first_dataset = list_project_jobs(storage, project.id)[0].dataset_id

    page.click("#retrain-pending")
    watch_training(session)
    newest = list_project_jobs(storage, project.id)[0]
    assert newest.dataset_id != first_dataset
    manifest = load_manifest(storage, project.id, newest.dataset_id)
    added = [(manifest.class_names[s.class_index], s.sha256) for s in manifest.samples
             if s.source.startswith("feedback-")]
    assert added == [(corrected, pending.sha256)]
    assert len(manifest.samples) == 25

    page.goto(f"/projects/{project.id}")
    assert page.locator(".pending-example").count() == 0
    assert re.search(r"Pending examples\s+None", page.inner_text("#pending"))
    session.shot("project-after-retrain")
    assert session.console_errors == []


def test_an_admin_disables_a_user_through_the_confirmation_page(session_factory, live_app):
    storage = live_app.extensions["teachbox"].storage
    create_user(storage, "operator", "correct-horse", is_admin=True)
    create_user(storage, "trudy", "correct-horse")
    session = session_factory()
    page = session.page
    page.goto("/auth/login")
    page.fill("#username", "operator")
    page.fill("#password", "correct-horse")
    page.click("input[type=submit]")
    page.click("nav >> text=Admin")
    session.shot("dashboard")
    page.click("[data-user=trudy] [data-action=disable-user]")
    assert page.inner_text("#confirm h1") == "Disable the account trudy?"
    assert not get_user(storage, "trudy").disabled
    session.shot("confirm")
    page.click("#confirm-submit")
    page.wait_for_selector("text=trudy: disabled.")
    assert page.inner_text("[data-user=trudy] td:nth-child(4)") == "disabled"
    assert "disable-user" in page.inner_text("#audit")
    session.shot("dashboard-after")
    assert get_user(storage, "trudy").disabled
    assert session.console_errors == []
