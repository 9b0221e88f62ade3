"""`python -m infra.bootstrap_admin --stack-name NAME [--region R]`: the first admin key of a deployed stack.

Runs on the deployer's machine with the deployer's AWS credentials (it needs dynamodb:Scan/GetItem/
TransactWriteItems/PutItem on the keys table and kms:Encrypt on the stack's KMS key; an administrator has them).
It reads the stack's outputs (CloudFormation DescribeStacks), then does what `make run` does locally
(shared.bootstrap.ensure_admin_key):

- ADMIN_API_KEY set in the environment: the key named 'admin' gets that value and every permission;
- otherwise, when the keys table is empty: a key named 'admin' is generated and printed, once;
- otherwise: nothing changes (the admin key is never shown again; GET /get_key/admin reveals it to a key
  holding get_key).

The key never passes through a template parameter or a Lambda environment variable, where anyone allowed to
describe the stack or the function could read it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.deploy_local import OUTPUT_SETTINGS
from shared.aws import AWS_ERRORS, error_code, make_client
from shared.bootstrap import ADMIN_NAME, ensure_admin_key
from shared.config import Settings
from shared.errors import ServiceError
from shared.stores.keys import KeyStore

# The outputs the key store needs (template.yaml Outputs); the others are read too, for the summary.
REQUIRED_OUTPUTS = ("KeysTableName", "KeysKmsKeyId")
# Stack states in which every resource exists (a failed update rolled back to the previous template counts).
READY_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"})
# A shorter human-chosen key is guessable offline from its unsalted SHA-256 digest (see docs/security.md).
MIN_CHOSEN_KEY_LENGTH = 32


class BootstrapError(Exception):
    """The stack cannot be bootstrapped (missing, not ready, not this template, AWS refused)."""


@dataclass(frozen=True)
class Outcome:
    """What happened: 'generated' (key holds the new key, to show once), 'set' or 'exists'."""

    action: str
    key: str | None = None


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """OutputKey → OutputValue of a stack that finished deploying."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except AWS_ERRORS as err:
        if error_code(err) == "ValidationError":  # what CloudFormation answers for an unknown stack
            raise BootstrapError(f"no stack named {stack_name!r} in this account and region (deploy it first)") from err
        raise BootstrapError(f"cannot describe stack {stack_name!r}: {err}") from err
    if not stacks:
        raise BootstrapError(f"no stack named {stack_name!r}")
    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if status not in READY_STATUSES:
        raise BootstrapError(f"stack {stack_name!r} is {status}: wait until it is deployed (CREATE_COMPLETE or UPDATE_COMPLETE)")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def settings_from_outputs(outputs: Mapping[str, str], region: str) -> Settings:
    """Settings for the stack's resources, as the deployed functions get them from template.yaml."""
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise BootstrapError(f"the stack has no output {', '.join(missing)}: is it a stack of this template.yaml?")
    values = {setting.lower(): outputs[output] for output, setting in OUTPUT_SETTINGS.items() if outputs.get(output)}
    return Settings(**values, aws_region=region)


def bootstrap(outputs: Mapping[str, str], region: str, admin_api_key: str | None, clients: Mapping[str, Any] | None = None) -> Outcome:
    """Ensure the admin key in the stack whose outputs are `outputs`."""
    settings = settings_from_outputs(outputs, region)
    clients = clients or {service: make_client(service, settings) for service in ("dynamodb", "kms")}
    keys = KeyStore(clients["dynamodb"], settings.keys_table, clients["kms"], settings.keys_kms_key_id)
    try:
        new_key = ensure_admin_key(keys, admin_api_key or None)
    except ServiceError as err:
        cause = error_code(err.__cause__) if err.__cause__ is not None else ""
        raise BootstrapError(f"{err.message}{f' ({cause})' if cause else ''}") from err
    if new_key:
        return Outcome("generated", new_key)
    return Outcome("set" if admin_api_key else "exists")


def default_region() -> str | None:
    """The region the AWS CLI and boto3 would use (AWS_REGION, AWS_DEFAULT_REGION, the profile's config)."""
    import boto3

    return os.environ.get("AWS_REGION") or boto3.session.Session().region_name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bootstrap_admin",
        description="Create the first admin key of a deployed stack (ADMIN_API_KEY in the environment chooses its value).",
    )
    parser.add_argument("--stack-name", required=True, help="the stack sam deploy created")
    parser.add_argument("--region", default=None, help="its region (default: AWS_REGION or the AWS CLI's configured region)")
    args = parser.parse_args(argv)
    region = args.region or default_region()
    if not region:
        parser.error("no region: pass --region or configure one (aws configure, or AWS_REGION)")
    admin_api_key = os.environ.get("ADMIN_API_KEY") or None
    if admin_api_key and len(admin_api_key) < MIN_CHOSEN_KEY_LENGTH:
        print(f"bootstrap_admin: ADMIN_API_KEY must have at least {MIN_CHOSEN_KEY_LENGTH} random characters", file=sys.stderr)
        return 2

    try:
        cloudformation = make_client("cloudformation", Settings.model_construct(aws_region=region, aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
        outcome = bootstrap(stack_outputs(cloudformation, args.stack_name), region, admin_api_key)
    except BootstrapError as err:
        print(f"bootstrap_admin: {err}", file=sys.stderr)
        return 1

    if outcome.action == "generated":
        # Shown here only, once: it is stored encrypted and never logged.
        print(f"\n  Admin API key of {args.stack_name} (shown once, keep it): {outcome.key}\n", flush=True)
    elif outcome.action == "set":
        print(f"Admin key '{ADMIN_NAME}' of {args.stack_name} set from ADMIN_API_KEY.")
    else:
        print(
            f"API keys already exist in {args.stack_name}: nothing changed. The admin key is not shown again "
            f"(GET /get_key/{ADMIN_NAME} with a key holding get_key reveals it; ADMIN_API_KEY=... sets a new value)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
