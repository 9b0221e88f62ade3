"""infra.bootstrap_admin: the first admin key of a deployed stack, found through the stack's outputs."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.bootstrap_admin import BootstrapError, bootstrap, main, settings_from_outputs, stack_outputs
from shared.models import PERMISSIONS
from shared.stores.keys import KeyStore
from tests.support.stack import DeployedStack

STACK = "ytdlp-local"  # the stack name infra.deploy_local.deploy gives the `aws` fixture's deployment
REGION = "us-east-1"
CHOSEN_KEY = "chosen-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"


def _keys(aws: DeployedStack) -> KeyStore:
    return KeyStore(aws.clients.dynamodb, aws.settings.keys_table, aws.clients.kms, aws.settings.keys_kms_key_id)


def test_bootstrap_generates_the_admin_key_once(aws: DeployedStack, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a deployed stack with no key  WHEN bootstrap_admin runs twice
    assert main(["--stack-name", STACK, "--region", REGION]) == 0
    first = capsys.readouterr().out
    assert main(["--stack-name", STACK, "--region", REGION]) == 0
    second = capsys.readouterr().out

    # THEN the first run printed a key that authenticates with every permission; the second changed nothing
    match = re.search(r"shown once, keep it\): (\S+)", first)
    assert match, first
    admin = _keys(aws).authenticate(match.group(1))
    assert (admin.name, admin.permissions) == ("admin", PERMISSIONS)
    assert "already exist" in second and match.group(1) not in second
    assert [r.name for r in _keys(aws).records()] == ["admin"]


def test_bootstrap_sets_the_admin_key_from_the_environment(
    aws: DeployedStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", CHOSEN_KEY)

    assert main(["--stack-name", STACK, "--region", REGION]) == 0

    out = capsys.readouterr().out
    assert "set from ADMIN_API_KEY" in out and CHOSEN_KEY not in out
    assert _keys(aws).authenticate(CHOSEN_KEY).permissions == PERMISSIONS


def test_bootstrap_refuses_a_short_chosen_key(
    aws: DeployedStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", "short-secret")

    assert main(["--stack-name", STACK, "--region", REGION]) == 2

    assert "at least 32" in capsys.readouterr().err
    assert not _keys(aws).any_exists()


def test_bootstrap_names_a_missing_stack(aws: DeployedStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack-name", "no-such-stack", "--region", REGION]) == 1
    assert "no stack named 'no-such-stack'" in capsys.readouterr().err


def test_bootstrap_reads_the_outputs_the_stack_has(aws: DeployedStack) -> None:
    # The outputs that moto's CloudFormation reports for the deployed template are the ones the functions get.
    outputs = stack_outputs(boto3.client("cloudformation", region_name=REGION), STACK)
    settings = settings_from_outputs(outputs, REGION)

    assert (settings.keys_table, settings.keys_kms_key_id) == (aws.settings.keys_table, aws.settings.keys_kms_key_id)
    assert bootstrap(outputs, REGION, None).action == "generated"


# ---------------------------------------------------------------- DescribeStacks answers, stubbed


def _stubbed_cloudformation(response: dict[str, Any] | None = None, error_code: str | None = None) -> Any:
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    if error_code:
        stubber.add_client_error("describe_stacks", service_error_code=error_code, service_message="Stack with id prod does not exist")
    else:
        stubber.add_response("describe_stacks", response, {"StackName": "prod"})
    stubber.activate()
    return client


def _stack(status: str, outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "prod",
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def test_stack_outputs_of_a_deployed_stack() -> None:
    outputs = {"ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/", "KeysTableName": "prod-KeysTable-1"}
    for status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        assert stack_outputs(_stubbed_cloudformation(_stack(status, outputs)), "prod") == outputs


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS", "DELETE_FAILED"])
def test_stack_outputs_refuses_a_stack_that_is_not_ready(status: str) -> None:
    with pytest.raises(BootstrapError, match=status):
        stack_outputs(_stubbed_cloudformation(_stack(status, {})), "prod")


def test_stack_outputs_names_an_unknown_stack() -> None:
    with pytest.raises(BootstrapError, match="no stack named 'prod'"):
        stack_outputs(_stubbed_cloudformation(error_code="ValidationError"), "prod")


def test_settings_need_the_key_store_outputs() -> None:
    with pytest.raises(BootstrapError, match="KeysKmsKeyId"):
        settings_from_outputs({"KeysTableName": "prod-KeysTable-1"}, REGION)
    settings = settings_from_outputs({"KeysTableName": "t", "KeysKmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"}, "eu-west-1")
    assert (settings.keys_table, settings.keys_kms_key_id, settings.aws_region) == ("t", "arn:aws:kms:eu-west-1:1:key/k", "eu-west-1")
