"""AWS mode end to end, without an AWS account: S3 and EC2 are moto servers over real HTTP,
Lambda's Invoke API is ``FakeLambda`` (moto needs Docker to run functions). Every component
gets the configuration the template gives it: the web app the stack's outputs, each function
its ``Environment``, the trainer the env file its user data writes.

And every component signs its S3 requests as an IAM user holding exactly its role's policy
from the template, with moto enforcing IAM: a prefix missing from a role fails the flow. (moto
evaluates actions and resources; of conditions only ``StringEquals``, and it checks EC2 calls
against resource ``*`` only, so EC2 runs on a second moto server without enforcement, and the
EC2 scoping is checked by reading the template in test_iam.py.)"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import moto.settings
import pytest
from flask import Flask

import lambda_infer.handler
import lambda_preprocess.handler
from teachbox.jobs import get_job
from teachbox.settings import PREFIX as SETTING_PREFIX
from teachbox.settings import load_settings
from teachbox.storage import Storage, open_storage
from teachbox.tokens import create_token
from teachbox.uploads import get_upload_status
from tests.deploy.conftest import render, trainer_env_file
from tests.deploy.fake_lambda import FakeLambda
from tests.webapp.conftest import AuthActions, ProjectActions, class_images, csrf_token
from trainer.worker import Worker
from webapp import create_app

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLES = ("WebAppRole", "PreprocessRole", "TrainerRole", "InferRole")


@pytest.fixture(scope="module")
def ec2_endpoint() -> Iterator[str]:
    """A moto server of its own, in another process, so IAM enforcement stays off for EC2."""
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
                              stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:  # werkzeug announces the port it bound
            match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                break
        else:
            raise RuntimeError(f"moto server exited with {server.wait()}")
        yield match.group(1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


@dataclass
class Stack:
    """The deployed stack's names, as CloudFormation would resolve the template's references."""

    values: dict[str, str]
    resources: dict
    outputs: dict
    moto_endpoint: str
    ec2_endpoint: str
    fake_lambda: FakeLambda
    monkeypatch: pytest.MonkeyPatch
    credentials: dict[str, tuple[str, str]]

    def sign_as(self, role: str) -> None:
        """boto3 clients created from now on sign as the IAM user holding ``role``'s policy."""
        key, secret = self.credentials[role]
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        self.monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        # boto3's default session keeps the first credentials it found; start a fresh one.
        self.monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    def output_settings(self) -> dict[str, str]:
        return {o["Description"]: render(o["Value"], self.values) for o in self.outputs.values()
                if o["Description"].startswith(SETTING_PREFIX)}

    def function_environment(self, function: str) -> dict[str, str]:
        return render(self.resources[function]["Properties"]["Environment"]["Variables"], self.values)

    def become(self, role: str, environment: dict[str, str]) -> None:
        """Run what follows in this process as the Lambda / instance with ``role`` and ``environment``."""
        self.sign_as(role)
        for name in [n for n in os.environ if n.startswith(SETTING_PREFIX)]:
            self.monkeypatch.delenv(name)
        for name, value in {**environment, "TEACHBOX_S3_ENDPOINT_URL": self.moto_endpoint}.items():
            self.monkeypatch.setenv(name, value)
        # Each handler builds settings and storage once per container; this is a new container.
        lambda_preprocess.handler.runtime.cache_clear()
        self.monkeypatch.setattr(lambda_infer.handler, "_state", None)

    def instance_state(self) -> str:
        ec2 = boto3.client("ec2", endpoint_url=self.ec2_endpoint, region_name=REGION)
        reservations = ec2.describe_instances(InstanceIds=[self.values["TrainerInstance"]])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]


@pytest.fixture
def stack(moto_endpoint: str, ec2_endpoint: str, template: dict, resources: dict,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    bucket = f"teachbox-e2e-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION).create_bucket(Bucket=bucket)
    values = {
        **{name: str(value) for name, value in defaults.items() if value is not None},
        "Bucket": bucket, "StoragePrefix": defaults["StoragePrefix"], "AWS::Region": REGION,
        "AWS::StackName": "teachbox", "PreprocessFunction": defaults["PreprocessFunctionName"],
        "InferFunction": defaults["InferFunctionName"], "Bucket.Arn": f"arn:aws:s3:::{bucket}",
        "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
    }
    for function in ("PreprocessFunction", "InferFunction"):
        name = values[function]
        values[f"{function}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        group = function.replace("Function", "LogGroup")
        values[f"{group}.Arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"
    values["TrainerInstance"] = _stopped_trainer_instance(ec2_endpoint, resources, values)
    credentials = {role: _iam_user_with_policy_of(role, moto_endpoint, resources, values) for role in ROLES}
    fake_lambda = FakeLambda({values["PreprocessFunction"]: lambda_preprocess.handler.handler,
                              values["InferFunction"]: lambda_infer.handler.handler}).start()
    # boto3 clients the code builds without an endpoint (Lambda invoke, EC2 start/stop) go here.
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", ec2_endpoint)
    # From here on moto checks every S3 request against the signer's IAM policies.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    yield Stack(values, resources, template["Outputs"], moto_endpoint, ec2_endpoint, fake_lambda,
                monkeypatch, credentials)
    fake_lambda.stop()
    lambda_preprocess.handler.runtime.cache_clear()


def _iam_user_with_policy_of(role: str, moto_endpoint: str, resources: dict,
                             values: dict[str, str]) -> tuple[str, str]:
    """An IAM user in moto holding ``role``'s inline policies from the template; its keys."""
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name=REGION)
    user = f"{role}-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    for policy in resources[role]["Properties"]["Policies"]:
        iam.put_user_policy(UserName=user, PolicyName=policy["PolicyName"],
                            PolicyDocument=json.dumps(render(policy["PolicyDocument"], values)))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _stopped_trainer_instance(ec2_endpoint: str, resources: dict, values: dict[str, str]) -> str:
    """The trainer instance with the launch template's tags, stopped as after its idle stop."""
    ec2 = boto3.client("ec2", endpoint_url=ec2_endpoint, region_name=REGION)
    specs = resources["TrainerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    tags = [{"Key": t["Key"], "Value": render(t["Value"], values)}
            for spec in specs if spec["ResourceType"] == "instance" for t in spec["Tags"]]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    instance_id = instance["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


@pytest.fixture
def web_app(stack: Stack, cache_dir: Path) -> Flask:
    """The web app configured with the stack's outputs and nothing else (plus its own secret),
    signing as the web app's role."""
    stack.sign_as("WebAppRole")
    settings = load_settings(env={**stack.output_settings(), "TEACHBOX_S3_ENDPOINT_URL": stack.moto_endpoint,
                                  "TEACHBOX_SECRET_KEY": "e2e-secret", "TEACHBOX_CACHE_DIR": str(cache_dir)})
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def function_url_event(project_id: str, secret: str, image: bytes) -> dict:
    return {
        "version": "2.0", "rawPath": f"/projects/{project_id}/predict",
        "requestContext": {"http": {"method": "POST", "path": f"/projects/{project_id}/predict"}},
        "headers": {"authorization": f"Bearer {secret}", "content-type": "application/json"},
        "body": json.dumps({"image_b64": base64.b64encode(image).decode()}), "isBase64Encoded": False,
    }


@pytest.mark.slow
def test_upload_trains_on_the_ec2_trainer_and_is_served_by_the_inference_lambda(
    stack: Stack, web_app: Flask, cache_dir: Path
):
    storage: Storage = web_app.extensions["teachbox"].storage
    assert storage.url == f"s3://{stack.values['Bucket']}/{stack.values['StoragePrefix']}/"
    client = web_app.test_client()
    AuthActions(client).register("alice", "correct-horse")
    red, blue = class_images(0, 11), class_images(1, 11)

    # 1. The web app stages the upload in S3 and hands it to the preprocess Lambda (Event).
    response = ProjectActions(web_app, client).upload_images("Colours", {"red": red[:10], "blue": blue[:10]})
    upload_id = response.headers["Location"].rsplit("/", 1)[1]
    [event] = stack.fake_lambda.events(stack.values["PreprocessFunction"])
    assert event["upload_id"] == upload_id
    assert storage.list(f"staging/{upload_id}/")

    # 2. Lambda runs preprocess: snapshot in S3, job queued, staging gone, trainer started.
    stack.become("PreprocessRole", stack.function_environment("PreprocessFunction"))
    lambda_preprocess.handler.handler(event, None)
    status = get_upload_status(storage, upload_id)
    assert status.state == "queued", status.problems
    assert storage.list(f"staging/{upload_id}/") == []
    assert stack.instance_state() in ("pending", "running")

    # 3. The trainer, configured by its user data, claims the job from S3, trains, then stops
    #    its own instance once idle.
    trainer_env = {**trainer_env_file(stack.resources, stack.values),
                   "TEACHBOX_TRAINER_INSTANCE_ID": stack.values["TrainerInstance"],  # what IMDS says
                   "TEACHBOX_CACHE_DIR": str(cache_dir),
                   "TEACHBOX_TRAINER_IDLE_STOP_SECONDS": "0.2", "TEACHBOX_TRAINER_POLL_SECONDS": "0.05",
                   "TEACHBOX_S3_ENDPOINT_URL": stack.moto_endpoint}
    stack.sign_as("TrainerRole")
    trainer_settings = load_settings(env=trainer_env)
    trainer_storage = open_storage(trainer_settings.storage, region=trainer_settings.aws_region,
                                   endpoint_url=trainer_settings.s3_endpoint_url)
    # Exports (the downloadable ONNX/TorchScript) are left out: slow, and not what this checks.
    assert Worker(trainer_storage, trainer_settings, export=False).work() == 1
    assert get_job(storage, status.job_id).status == "succeeded"
    assert stack.instance_state() in ("stopping", "stopped")

    # 4. The web app's Try page asks the inference Lambda (RequestResponse).
    infer_environment = stack.function_environment("InferFunction")
    stack.become("InferRole", {**infer_environment, "TEACHBOX_CACHE_DIR": str(cache_dir)})  # baked in
    page = f"/projects/{status.project_id}/predict"
    answer = client.post(page, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, page), "image": (io.BytesIO(red[10][1]), "red.png"),
    })
    assert answer.status_code == 200, answer.get_data(as_text=True)
    [call] = [i for i in stack.fake_lambda.invocations if i.function == stack.values["InferFunction"]]
    assert call.result["predictions"][0]["label"] == "red"
    assert 'id="top-label">red' in answer.get_data(as_text=True)

    # 5. A script calls the Function URL with a project API token.
    _, secret = create_token(storage, status.project_id, "alice", "e2e script")
    reply = lambda_infer.handler.handler(function_url_event(status.project_id, secret, blue[10][1]), None)
    assert reply["statusCode"] == 200, reply["body"]
    assert json.loads(reply["body"])["predictions"][0]["label"] == "blue"
