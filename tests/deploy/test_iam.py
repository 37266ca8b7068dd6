"""Least privilege, read from the template: one role per component, no wildcard actions, no
unscoped resources but the one EC2 cannot scope, and each role reaching only its prefixes."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import BUCKET_ARN, PREFIX, Statement, as_tuple, render

# Which top-level storage prefixes each component's code reads or writes (DESIGN.md layout,
# plus owners/ (project index), trainers/ (admin heartbeats) and webforms/ (kept form entries)).
ROLE_PREFIXES = {
    "PreprocessRole": {"staging", "projects", "owners", "jobs", "uploads"},
    "InferRole": {"projects"},
    "TrainerRole": {"projects", "jobs", "trainers"},
    "WebAppRole": {"users", "projects", "owners", "uploads", "staging", "webforms", "jobs", "trainers"},
}
OBJECT_ARN = re.compile(rf"^{re.escape(BUCKET_ARN)}/{PREFIX}/([a-z]+)/\*$")
LIST_PREFIX = re.compile(rf"^{PREFIX}/([a-z]+)/\*$")


def of_role(statements: list[Statement], role: str) -> list[Statement]:
    return [s for s in statements if s.role == role]


def granting(statements: list[Statement], action: str) -> list[Statement]:
    return [s for s in statements if s.effect == "Allow" and action in s.actions]


def object_prefixes(statements: list[Statement]) -> set[str]:
    prefixes = set()
    for statement in statements:
        if any(a.startswith("s3:") and a != "s3:ListBucket" for a in statement.actions):
            prefixes |= {OBJECT_ARN.match(r).group(1) for r in statement.resources if OBJECT_ARN.match(r)}
    return prefixes


def listed_prefixes(statement: Statement) -> set[str]:
    values = as_tuple(statement.condition["StringLikeIfExists"]["s3:prefix"])
    return {LIST_PREFIX.match(v).group(1) for v in values if LIST_PREFIX.match(v)}


def test_every_component_has_its_own_role(resources):
    roles = {"PreprocessFunction": "PreprocessRole", "InferFunction": "InferRole"}
    for function, role in roles.items():
        assert render(resources[function]["Properties"]["Role"]) == f"<{role}.Arn>"
    profile = resources["TrainerInstanceProfile"]["Properties"]["Roles"]
    assert render(profile) == ["<TrainerRole>"]
    assert render(resources["WebAppInstanceProfile"]["Properties"]["Roles"]) == ["<WebAppRole>"]
    iam_roles = {name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert iam_roles == set(ROLE_PREFIXES)


def test_no_statement_allows_a_wildcard_action(statements):
    wild = [(s.role, s.sid, a) for s in statements if s.effect == "Allow" for a in s.actions if "*" in a]
    assert wild == []


def test_only_describe_instances_has_an_unscoped_resource(statements):
    unscoped = [s for s in statements if "*" in s.resources]
    assert [(s.role, s.actions) for s in unscoped] == [("PreprocessRole", ("ec2:DescribeInstances",))]


def test_object_permissions_stay_under_the_storage_prefix(statements):
    outside = [
        (s.role, s.sid, r)
        for s in statements
        if any(a.startswith("s3:") and a != "s3:ListBucket" for a in s.actions)
        for r in s.resources
        if not OBJECT_ARN.match(r)
    ]
    assert outside == []


def test_listing_is_only_on_the_bucket_and_only_under_prefixes_the_role_reads(statements):
    for role in ROLE_PREFIXES:
        lists = granting(of_role(statements, role), "s3:ListBucket")
        assert [s.resources for s in lists] == [(BUCKET_ARN,)], role
        assert lists[0].actions == ("s3:ListBucket",), role
        assert listed_prefixes(lists[0]) == object_prefixes(of_role(statements, role)), role


@pytest.mark.parametrize("role", sorted(ROLE_PREFIXES))
def test_each_role_reaches_only_the_prefixes_its_component_uses(statements, role):
    assert object_prefixes(of_role(statements, role)) == ROLE_PREFIXES[role]


def test_inference_can_only_read(statements):
    actions = {a for s in of_role(statements, "InferRole") for a in s.actions if a.startswith("s3:")}
    assert actions == {"s3:GetObject", "s3:ListBucket"}


def test_preprocess_starts_only_the_trainer_instance(statements):
    start = granting(statements, "ec2:StartInstances")
    assert [(s.role, s.resources) for s in start] == [
        ("PreprocessRole", ("arn:aws:ec2:REGION:ACCOUNT:instance/<TrainerInstance>",))
    ]


def test_trainer_stops_only_instances_carrying_this_stacks_trainer_tags(statements, resources):
    stop = granting(statements, "ec2:StopInstances")
    assert [s.role for s in stop] == ["TrainerRole"]
    required = {
        key.removeprefix("aws:ResourceTag/"): value
        for key, value in stop[0].condition["StringEquals"].items()
    }
    specs = resources["TrainerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    instance_tags = {t["Key"]: render(t["Value"]) for spec in specs for t in spec["Tags"]
                     if spec["ResourceType"] == "instance"}
    assert required == {"teachbox-role": "trainer", "teachbox-stack": "STACK"}
    assert required.items() <= instance_tags.items()


@pytest.mark.parametrize("role, log_group", [("PreprocessRole", "PreprocessLogGroup"),
                                             ("InferRole", "InferLogGroup")])
def test_functions_write_logs_only_to_their_own_log_group(statements, resources, role, log_group):
    logs = [s for s in of_role(statements, role) if any(a.startswith("logs:") for a in s.actions)]
    assert [(set(s.actions), s.resources) for s in logs] == [
        ({"logs:CreateLogStream", "logs:PutLogEvents"}, (f"<{log_group}.Arn>",))
    ]
    function = role.replace("Role", "Function")
    assert render(resources[function]["Properties"]["LoggingConfig"]["LogGroup"]) == f"<{log_group}>"


def test_web_app_invokes_only_the_two_functions(statements):
    invoke = granting(statements, "lambda:InvokeFunction")
    assert [(s.role, set(s.resources)) for s in invoke] == [
        ("WebAppRole", {"<PreprocessFunction.Arn>", "<InferFunction.Arn>"})
    ]
