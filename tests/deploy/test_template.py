"""The SAM template: valid, a private encrypted bucket, and settings the code really reads."""

from __future__ import annotations

from dataclasses import fields

from cfnlint.api import ManualArgs, lint_file

from teachbox.settings import PREFIX as SETTING_PREFIX
from teachbox.settings import Settings, load_settings
from teachbox.uploads import staging_prefix
from tests.deploy.conftest import PREFIX, TEMPLATE, render, trainer_env_file, user_data

SETTING_NAMES = {SETTING_PREFIX + f.name.upper() for f in fields(Settings)}
# What the web app needs to run against the stack (README "Point the web app at the stack").
WEB_APP_SETTINGS = {"TEACHBOX_STORAGE", "TEACHBOX_INVOKER", "TEACHBOX_AWS_REGION",
                    "TEACHBOX_PREPROCESS_FUNCTION", "TEACHBOX_INFER_FUNCTION",
                    "TEACHBOX_TRAINER_INSTANCE_ID"}


def bucket(resources: dict) -> dict:
    return resources["Bucket"]["Properties"]


def test_template_passes_cfn_lint():
    assert lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1"])) == []


def test_bucket_blocks_every_kind_of_public_access(resources):
    block = bucket(resources)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                     "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket(resources)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_encrypts_at_rest_and_keeps_overwritten_versions(resources):
    rules = bucket(resources)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]
    assert bucket(resources)["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_outlives_the_stack(resources):
    assert resources["Bucket"]["DeletionPolicy"] == "Retain"
    assert resources["Bucket"]["UpdateReplacePolicy"] == "Retain"


def test_bucket_refuses_requests_without_tls(resources):
    policy = render(resources["BucketPolicy"]["Properties"]["PolicyDocument"])
    assert policy["Statement"] == [{
        "Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]


def test_unconsumed_staging_uploads_expire_after_a_day(resources):
    rules = render(bucket(resources)["LifecycleConfiguration"]["Rules"])
    staging = [r for r in rules if r.get("Prefix")]
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in staging] == [(f"{PREFIX}/staging/", 1)]
    assert staging_prefix("u1").startswith(staging[0]["Prefix"].removeprefix(f"{PREFIX}/"))


def test_old_versions_and_abandoned_multipart_uploads_expire(resources):
    rules = render(bucket(resources)["LifecycleConfiguration"]["Rules"])
    everywhere = [r for r in rules if not r.get("Prefix")]
    assert [(r["NoncurrentVersionExpiration"], r["AbortIncompleteMultipartUpload"]) for r in everywhere] == [
        ({"NoncurrentDays": "<NoncurrentVersionDays>"}, {"DaysAfterInitiation": 1})
    ]


def test_outputs_give_the_web_app_every_setting_it_needs(template):
    named = {o["Description"]: render(o["Value"]) for o in template["Outputs"].values()
             if o["Description"].startswith(SETTING_PREFIX)}
    assert set(named) == WEB_APP_SETTINGS
    assert set(named) <= SETTING_NAMES
    settings = load_settings(env={**named, "TEACHBOX_STORAGE": f"s3://bucket/{PREFIX}"})
    assert (settings.invoker, settings.is_aws) == ("lambda", True)


def test_functions_are_configured_only_with_real_settings(resources):
    for name in ("PreprocessFunction", "InferFunction"):
        variables = render(resources[name]["Properties"]["Environment"]["Variables"])
        assert set(variables) <= SETTING_NAMES, name
        assert variables["TEACHBOX_STORAGE"] == f"s3://<Bucket>/{PREFIX}", name


def test_trainer_environment_file_holds_only_real_settings(resources):
    env = trainer_env_file(resources)
    assert set(env) <= SETTING_NAMES
    assert env["TEACHBOX_STORAGE"] == f"s3://<Bucket>/{PREFIX}"
    assert env["TEACHBOX_TRAINER_INSTANCE_ID"] == "$instance_id"  # read from IMDSv2 at boot


def test_trainer_instance_requires_imdsv2_tokens(resources):
    options = resources["TrainerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    assert options["HttpTokens"] == "required"
    assert "X-aws-ec2-metadata-token:" in user_data(resources)


def test_trainer_accepts_no_inbound_traffic(resources):
    group = resources["TrainerSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [(r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [(443, 443)]


def test_public_inference_url_may_invoke_only_through_the_url(resources):
    props = resources["InferFunction"]["Properties"]
    assert props["FunctionUrlConfig"]["AuthType"] == "NONE"
    permission = render(resources["InferFunctionUrlInvokePermission"]["Properties"])
    assert permission == {"Action": "lambda:InvokeFunction", "FunctionName": "<InferFunction>",
                          "Principal": "*", "InvokedViaFunctionUrl": True}
    assert render(props["ReservedConcurrentExecutions"]) == "<InferReservedConcurrency>"


def test_default_function_names_are_the_settings_defaults(template):
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    assert defaults["PreprocessFunctionName"] == Settings().preprocess_function
    assert defaults["InferFunctionName"] == Settings().infer_function
