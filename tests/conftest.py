"""Shared fixtures: real folders, and real S3 over HTTP through moto's server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest

from teachbox.settings import Settings, load_settings
from teachbox.storage import LocalStorage, S3Storage, Storage

# Fake credentials for moto; set before any boto3 client is built, never real ones.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One featurizer cache per test session: exporting a backbone to ONNX takes seconds."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(tmp_path: Path, cache_dir: Path) -> Settings:
    return load_settings(env={}, storage=f"file://{tmp_path / 'data'}", cache_dir=str(cache_dir),
                         secret_key="test-secret")


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.storage[len("file://"):])


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """moto's S3/EC2/Lambda server on a free loopback port: boto3 talks real HTTP to it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def s3_storage(moto_endpoint: str) -> S3Storage:
    client = s3_client(moto_endpoint)
    bucket = f"teachbox-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3Storage(bucket, "tb", client=client)


@pytest.fixture(params=["local", "s3"])
def any_storage(request: pytest.FixtureRequest) -> Storage:
    """The storage contract holds for both backends: run the test against each."""
    if request.param == "local":
        return request.getfixturevalue("storage")
    return request.getfixturevalue("s3_storage")
