"""The Lambda entry point against S3 and EC2 over real HTTP (moto's server), as in AWS mode."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import boto3
import pytest

from lambda_preprocess.handler import handler, runtime
from lambda_preprocess.trainer_instance import ensure_trainer_running
from teachbox.jobs import JobStatus, get_job
from teachbox.uploads import get_upload_status, staging_prefix
from tests.preprocess.corpus import StagedUpload

_AMI = "ami-12c6146b"  # any id is accepted by moto


@pytest.fixture
def ec2(moto_endpoint):
    return boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def stopped_trainer(ec2) -> str:
    instance_id = ec2.run_instances(ImageId=_AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


def _state(ec2, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


@pytest.fixture
def lambda_env(monkeypatch, moto_endpoint, s3_storage, stopped_trainer):
    """The environment the deployed Lambda gets, pointing every AWS client at moto."""
    for name, value in {
        "TEACHBOX_STORAGE": s3_storage.url.rstrip("/"),
        "TEACHBOX_S3_ENDPOINT_URL": moto_endpoint,
        "TEACHBOX_TRAINER_INSTANCE_ID": stopped_trainer,
        "AWS_ENDPOINT_URL_EC2": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    runtime.cache_clear()
    yield
    runtime.cache_clear()


def _staged_image_upload(storage) -> StagedUpload:
    upload = StagedUpload(storage, "image", ["cats", "dogs"])
    upload.mark_validating()
    return upload.add_images(0, 10).add_images(1, 10, first_seed=50)


def _s3_event(storage, key: str) -> dict:
    return {"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
        "s3": {"bucket": {"name": storage.bucket},
               "object": {"key": quote_plus(storage.prefix + key, safe="/")}},
    }]}


def test_s3_event_for_a_staged_request_queues_the_job_and_starts_the_trainer(
        lambda_env, s3_storage, ec2, stopped_trainer):
    upload = _staged_image_upload(s3_storage)
    request_key = staging_prefix(upload.upload_id) + "request.json"
    s3_storage.put(request_key, json.dumps(upload.payload()).encode())

    result = handler(_s3_event(s3_storage, request_key), None)

    assert result["ok"] is True
    assert get_job(s3_storage, result["job_id"]).status is JobStatus.QUEUED
    assert get_upload_status(s3_storage, upload.upload_id).state == "queued"
    assert s3_storage.list("staging/") == []
    assert _state(ec2, stopped_trainer) in ("pending", "running")


def test_direct_invocation_payload_is_handled_the_same_way(lambda_env, s3_storage, ec2, stopped_trainer):
    upload = _staged_image_upload(s3_storage)

    result = handler(upload.payload(), None)

    assert get_job(s3_storage, result["job_id"]).status is JobStatus.QUEUED
    assert _state(ec2, stopped_trainer) in ("pending", "running")


def test_rejected_upload_does_not_start_the_trainer(lambda_env, s3_storage, ec2, stopped_trainer):
    upload = _staged_image_upload(s3_storage).add_file(0, "empty.jpg", b"")

    result = handler(upload.payload(), None)

    assert result["message"] == (
        "Class 'cats': empty.jpg: the file is empty (0 bytes). Choose the image again or remove it.")
    assert s3_storage.list("") == [f"uploads/{upload.upload_id}.json"]
    assert _state(ec2, stopped_trainer) == "stopped"


def test_s3_event_for_another_object_is_ignored(lambda_env, s3_storage):
    s3_storage.put("staging/0123456789abcdef/f0000.bin", b"an image")

    assert handler(_s3_event(s3_storage, "staging/0123456789abcdef/f0000.bin"), None) == {
        "ok": True, "results": []}


def test_running_trainer_is_left_running(ec2):
    instance_id = ec2.run_instances(ImageId=_AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    assert ensure_trainer_running(ec2, instance_id) == "running"
    assert _state(ec2, instance_id) == "running"


def test_stopped_trainer_is_started(ec2, stopped_trainer):
    assert ensure_trainer_running(ec2, stopped_trainer) == "stopped"
    assert _state(ec2, stopped_trainer) in ("pending", "running")
