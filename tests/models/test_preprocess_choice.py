"""Preprocess stores the chosen model in the dataset, job and project, and refuses a wrong one."""

from __future__ import annotations

from lambda_preprocess import handle
from teachbox.datasets import load_manifest
from teachbox.jobs import get_job
from teachbox.projects import load_project


def test_the_chosen_model_is_stored_in_the_dataset_the_job_and_the_project(storage, settings, new_upload):
    upload = new_upload("image", ["cats", "dogs"]).add_images(0, 10).add_images(1, 10, first_seed=100)

    result = handle(upload.payload(featurizer="lite2"), storage, settings)

    assert result["ok"] is True
    assert load_manifest(storage, upload.project_id, result["dataset_id"]).featurizer == "lite2"
    assert get_job(storage, result["job_id"]).featurizer == "lite2"
    assert load_project(storage, upload.project_id).featurizer == "lite2"


def test_a_model_for_the_other_kind_is_refused_and_nothing_is_stored(storage, settings, new_upload):
    upload = new_upload("text", ["spam", "ham"])
    upload.pasted = {"0": "buy now\nfree money", "1": "see you at lunch\nthe report is attached"}

    result = handle(upload.payload(featurizer="lite1"), storage, settings)

    assert result["ok"] is False and result["status"] == 400
    assert "Model 'lite1' is for image projects; choose one of: minilm, minilm-tuned" in result["message"]
    assert [key for key in storage.list("") if not key.startswith("staging/")] in (
        [], [f"uploads/{upload.upload_id}.json"])
