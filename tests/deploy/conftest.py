"""Fixtures for the deploy tests: the SAM template parsed with cfn-lint's own loader, and its
IAM statements with every intrinsic (``!Sub``, ``!GetAtt``, ``!Ref``) rendered as text."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATE = DEPLOY / "template.yaml"
TRAINER_UNIT = DEPLOY / "teachbox-trainer.service"

# Stand-ins for what CloudFormation fills in at deploy time.
BUCKET_ARN = "arn:aws:s3:::BUCKET"
PREFIX = "PFX"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "REGION", "AWS::AccountId": "ACCOUNT",
          "AWS::StackName": "STACK"}


def render(value: Any, values: dict[str, str] | None = None) -> Any:
    """``value`` with intrinsics turned into plain strings (lists stay lists). ``values`` gives
    what a reference becomes (``{"Bucket": "my-bucket"}``); the stand-ins above otherwise."""
    if isinstance(value, list):
        return [render(item, values) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: _name(m.group(1), values), value["Fn::Sub"])
    if "Fn::GetAtt" in value:
        return _name(".".join(value["Fn::GetAtt"]), values)
    if "Ref" in value:
        return _name(value["Ref"], values)
    return {key: render(item, values) for key, item in value.items()}


def _name(reference: str, values: dict[str, str] | None = None) -> str:
    if values and reference in values:
        return values[reference]
    if reference == "Bucket.Arn":
        return BUCKET_ARN
    if reference == "StoragePrefix":
        return PREFIX
    return PSEUDO.get(reference, f"<{reference}>")


@dataclass(frozen=True)
class Statement:
    role: str
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict


def as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list) else (value,)


def user_data(resources: dict, values: dict[str, str] | None = None) -> str:
    data = resources["TrainerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    return render(data["Fn::Base64"], values)


def trainer_env_file(resources: dict, values: dict[str, str] | None = None) -> dict[str, str]:
    """The trainer's /etc/teachbox/trainer.env as the user data writes it."""
    script = user_data(resources, values)
    body = re.search(r"cat > /etc/teachbox/trainer.env <<EOF\n(.*?)\nEOF\n", script, re.S)
    return dict(line.split("=", 1) for line in body.group(1).splitlines())


@pytest.fixture(scope="session")
def template() -> dict:
    parsed, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return parsed


@pytest.fixture(scope="session")
def resources(template: dict) -> dict:
    return template["Resources"]


def _iam_statements(resources: dict) -> list[Statement]:
    statements = []
    for name, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            assert not props.get("ManagedPolicyArns"), f"{name} attaches managed policies"
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        elif kind == "AWS::Serverless::Function":
            assert "Policies" not in props, f"{name}: give it an explicit Role, not SAM Policies"
            continue
        else:
            continue
        for document in documents:
            for raw in document["Statement"]:
                statement = render(raw)
                statements.append(Statement(
                    role=name, sid=statement.get("Sid", ""), effect=statement["Effect"],
                    actions=as_tuple(statement["Action"]), resources=as_tuple(statement["Resource"]),
                    condition=statement.get("Condition", {}),
                ))
    return statements


@pytest.fixture(scope="session")
def statements(resources: dict) -> list[Statement]:
    return _iam_statements(resources)


@pytest.fixture(scope="session")
def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(TRAINER_UNIT)
    return parser
