"""Pending examples in the core, on a folder and on S3: what is kept, what is refused, and
when a retrain may delete them."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from teachbox.errors import BadRequest, NotFound
from teachbox.feedback import (
    add_pending,
    list_pending,
    pending_counts,
    read_pending,
    remove_pending,
    retrain_upload_in_progress,
    settle_retrain,
    stage_pending,
    start_pending_retrain,
)
from teachbox.invoker import LambdaInvoker
from teachbox.projects import create_project, save_project
from teachbox.uploads import UploadState, UploadStatus, write_upload_status
from tests.webapp.conftest import make_image


@pytest.fixture
def text_project(any_storage):
    return create_project(any_storage, "alice", "Moods", "text", ["happy", "sad"])


@pytest.fixture
def image_project(storage):
    return create_project(storage, "alice", "Colours", "image", ["red", "blue"])


def _start_upload(storage, project, upload_id="a1b2c3d4e5f60718"):
    write_upload_status(storage, UploadStatus(upload_id=upload_id, project_id=project.id,
                                              owner="alice", state=UploadState.VALIDATING.value))
    return upload_id, stage_pending(storage, project, upload_id)


def _finish_upload(storage, upload_id, project, state):
    write_upload_status(storage, UploadStatus(upload_id=upload_id, project_id=project.id,
                                              owner="alice", state=state))


def test_a_text_is_kept_normalized_as_uploaded_rows_are(any_storage, settings, text_project):
    add_pending(any_storage, settings, text_project, 1, text="  so\n  gloomy   today ")
    [example] = list_pending(any_storage, text_project)
    assert (example.class_index, example.text) == (1, "so gloomy today")


def test_an_empty_text_is_refused(storage, settings):
    project = create_project(storage, "alice", "Moods", "text", ["happy", "sad"])
    with pytest.raises(BadRequest, match="There is no text to add; type some text and predict it first."):
        add_pending(storage, settings, project, 0, text=" \n ")
    assert list_pending(storage, project) == []


def test_a_text_over_the_row_limit_is_refused_with_its_length(storage, settings):
    project = create_project(storage, "alice", "Moods", "text", ["happy", "sad"])
    sentence = f"it is 5001 characters long; the limit is {settings.text_max_chars}. Shorten it."
    with pytest.raises(BadRequest, match=sentence):
        add_pending(storage, settings, project, 0, text="x" * 5001)
    assert list_pending(storage, project) == []


def test_a_class_the_project_does_not_have_is_refused(storage, settings, image_project):
    with pytest.raises(BadRequest, match="This project has no class number 3; choose one of 'red', 'blue'."):
        add_pending(storage, settings, image_project, 2, image=make_image(1, (200, 0, 0)))


def test_an_image_is_stored_in_the_uploads_normalized_form(storage, settings, image_project):
    example = add_pending(storage, settings, image_project, 0, image=make_image(1, (200, 0, 0)))
    assert example.ext == "jpg"
    assert read_pending(storage, image_project, 0, example.sha256)[:3] == b"\xff\xd8\xff"


def test_marking_the_same_input_again_moves_it_to_the_latest_class(storage, settings, image_project):
    image = make_image(1, (200, 0, 0))
    add_pending(storage, settings, image_project, 0, image=image)
    add_pending(storage, settings, image_project, 1, image=image)
    assert [e.class_index for e in list_pending(storage, image_project)] == [1]
    assert pending_counts(list_pending(storage, image_project), image_project) == {"red": 0, "blue": 1}


def test_a_class_cannot_pile_up_more_pending_examples_than_a_class_may_hold(storage, settings, image_project):
    settings = settings.replace(image_max_per_class=2)
    for seed in (1, 2):
        add_pending(storage, settings, image_project, 0, image=make_image(seed, (200, 0, 0)))
    sentence = "Class 'red' already has 2 pending examples, the most a class may hold"
    with pytest.raises(BadRequest, match=sentence):
        add_pending(storage, settings, image_project, 0, image=make_image(3, (200, 0, 0)))


def test_removing_a_missing_example_is_not_found(storage, image_project):
    with pytest.raises(NotFound, match="No such pending example."):
        remove_pending(storage, image_project, 0, "0" * 64)


def test_staging_turns_pending_texts_into_pasted_lines(any_storage, settings, text_project):
    add_pending(any_storage, settings, text_project, 0, text="what a day")
    add_pending(any_storage, settings, text_project, 0, text="lovely")
    _, staged = _start_upload(any_storage, text_project)
    assert sorted(staged.pasted["0"].split("\n")) == ["lovely", "what a day"]
    assert staged.files == []


def test_pending_examples_stay_while_their_retrain_is_validated(any_storage, settings, text_project):
    add_pending(any_storage, settings, text_project, 0, text="what a day")
    upload_id, _ = _start_upload(any_storage, text_project)
    assert settle_retrain(any_storage, text_project.id) == "validating"
    assert retrain_upload_in_progress(any_storage, text_project.id) == upload_id
    assert len(list_pending(any_storage, text_project)) == 1


def test_a_queued_retrain_clears_exactly_the_examples_it_took(any_storage, settings, text_project):
    add_pending(any_storage, settings, text_project, 0, text="what a day")
    upload_id, _ = _start_upload(any_storage, text_project)
    add_pending(any_storage, settings, text_project, 1, text="added while validating")
    _finish_upload(any_storage, upload_id, text_project, UploadState.QUEUED.value)
    assert [e.text for e in list_pending(any_storage, text_project)] == ["added while validating"]
    assert retrain_upload_in_progress(any_storage, text_project.id) == ""


@pytest.mark.parametrize("state", [UploadState.REJECTED.value, UploadState.ERROR.value])
def test_a_rejected_or_failed_retrain_keeps_every_pending_example(any_storage, settings, text_project, state):
    add_pending(any_storage, settings, text_project, 0, text="what a day")
    upload_id, _ = _start_upload(any_storage, text_project)
    _finish_upload(any_storage, upload_id, text_project, state)
    assert [e.text for e in list_pending(any_storage, text_project)] == ["what a day"]
    assert retrain_upload_in_progress(any_storage, text_project.id) == ""


def test_a_retrain_that_cannot_be_started_leaves_the_examples_pending(
        s3_storage, settings, moto_endpoint):
    project = create_project(s3_storage, "alice", "Moods", "text", ["happy", "sad"])
    add_pending(s3_storage, settings, project, 0, text="what a day")
    # A real Lambda API (moto) without the preprocess function: the invoke itself fails.
    invoker = LambdaInvoker(settings, client=boto3.client("lambda", endpoint_url=moto_endpoint,
                                                          region_name="us-east-1"))
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        start_pending_retrain(s3_storage, invoker, project, "a1b2c3d4e5f60718", "", {})
    assert retrain_upload_in_progress(s3_storage, project.id) == ""
    assert [e.text for e in list_pending(s3_storage, project)] == ["what a day"]


def test_pending_examples_follow_their_class_by_name_when_the_classes_change(
        storage, settings, image_project):
    add_pending(storage, settings, image_project, 0, image=make_image(1, (200, 0, 0)))
    blue = add_pending(storage, settings, image_project, 1, image=make_image(2, (0, 0, 200)))
    image_project.class_names = ["Blue", "green"]  # red removed, blue moved and recased
    save_project(storage, image_project)
    assert [(e.class_index, e.sha256) for e in list_pending(storage, image_project)] == [(0, blue.sha256)]
