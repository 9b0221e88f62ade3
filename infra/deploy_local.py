"""Deploy template.yaml into a running moto server, the same stack as in AWS minus what only runs in AWS.

The SAM template is translated with aws-sam-translator, cut down to the resources the local stack needs (tables,
queues, bucket, KMS key and alias, IAM roles, log groups) and created through the emulator's CloudFormation.
Properties that moto 5.2.5's CloudFormation accepts but ignores are applied afterwards with the service's own
API, so the local resources behave like the deployed ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError, WaiterError
from samtranslator.metrics.metrics import Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import intrinsics_multi_constructor

from shared.aws import make_client
from shared.config import Settings

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"

# What the local stack creates. The rest is dropped: the HTTP API and Lambda functions run as local processes
# (uvicorn, the cleanup loop), the ECS worker as a local process, and moto's CloudFormation has no support for
# API Gateway v2, Application Auto Scaling or CloudWatch alarms (it skips them with a warning). The bucket policy
# is dropped too: moto's CloudFormation skips it, and applied by hand moto does enforce it, so its TLS-only deny
# refuses every request to the plain-HTTP emulator.
LOCAL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
    }
)

# Properties moto 5.2.5's CloudFormation accepts and silently ignores; deploy() applies them after creation.
DEFERRED_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "AWS::DynamoDB::Table": ("TimeToLiveSpecification", "PointInTimeRecoverySpecification"),
    "AWS::S3::Bucket": ("PublicAccessBlockConfiguration", "LifecycleConfiguration", "OwnershipControls"),
}
_DEFERRED_OUTPUT_PREFIX = "LocalDeferred"

# Stack outputs → the Settings environment variables they fill.
OUTPUT_SETTINGS: Mapping[str, str] = {
    "KeysTableName": "KEYS_TABLE",
    "CookiesTableName": "COOKIES_TABLE",
    "WorkersTableName": "WORKERS_TABLE",
    "TasksTableName": "TASKS_TABLE",
    "RateLimitsTableName": "RATE_LIMITS_TABLE",
    "ResultsTableName": "RESULTS_TABLE",
    "UsageTableName": "USAGE_TABLE",
    "JobsQueueUrl": "JOBS_QUEUE_URL",
    "DeadLetterQueueUrl": "DEAD_LETTER_QUEUE_URL",
    "NotifyQueueUrl": "NOTIFY_QUEUE_URL",
    "MediaBucketName": "MEDIA_BUCKET",
    "KeysKmsKeyId": "KEYS_KMS_KEY_ID",
}

# sam package would upload the code and put an S3 URI here; the translator insists on one, and the functions are
# dropped anyway.
_PLACEHOLDER_CODE_URI = "s3://local-placeholder/code.zip"


class _CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


# On a private subclass: samtranslator's yaml_parse() registers this on yaml.SafeLoader itself, for every caller.
_CfnYamlLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as a dict, short-form intrinsics expanded."""
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnYamlLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a template")
    return loaded


def translate(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The plain CloudFormation that `sam deploy` would create from the SAM template (no AWS calls)."""
    sam = copy.deepcopy(dict(template))
    for function in _functions_and_globals(sam):
        if isinstance(function.get("CodeUri"), str) and not function["CodeUri"].startswith("s3://"):
            function["CodeUri"] = _PLACEHOLDER_CODE_URI
    metrics = Metrics()
    # The region is given to the translator; without it samtranslator asks boto3 for a default region.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics)
    translated = translator.translate(sam, parameter_values=dict(parameters or {}), get_managed_policy_map=dict)
    metrics.publish()  # to nowhere (the dummy publisher); otherwise samtranslator warns when it is collected
    return translated


def local_template(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """The translated template cut down to what the emulator creates, ignored properties moved to outputs."""
    resources, outputs = _emulator_subset(cfn)
    deferred = _defer_ignored(resources, outputs)
    _adapt_for_moto(resources)
    conditions = _used_conditions(cfn.get("Conditions", {}), [resources, outputs])
    used_names = _references([resources, outputs, conditions])
    local: dict[str, Any] = {
        "AWSTemplateFormatVersion": cfn.get("AWSTemplateFormatVersion", "2010-09-09"),
        "Description": f"{cfn.get('Description', '')} (local: emulator subset)".strip(),
        "Metadata": {_DEFERRED_OUTPUT_PREFIX: deferred},
        "Parameters": {name: p for name, p in cfn.get("Parameters", {}).items() if name in used_names},
        "Resources": resources,
        "Outputs": outputs,
    }
    if conditions:
        local["Conditions"] = conditions
    return local


def _emulator_subset(cfn: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resources of LOCAL_TYPES that refer to no dropped resource, and the outputs that survive the cut."""
    every: dict[str, Any] = cfn.get("Resources", {})
    resources = {name: copy.deepcopy(res) for name, res in every.items() if res["Type"] in LOCAL_TYPES}
    while orphans := [name for name, res in resources.items() if _references(res) & (set(every) - set(resources))]:
        for name in orphans:
            del resources[name]
    dropped = set(every) - set(resources)
    outputs = {
        name: copy.deepcopy(out) for name, out in cfn.get("Outputs", {}).items() if not _references(out) & dropped
    }
    return resources, outputs


def _defer_ignored(resources: dict[str, Any], outputs: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Move what moto would ignore into outputs (resolved by moto itself, as JSON); say where each one belongs."""
    deferred: dict[str, dict[str, str]] = {}

    for name, res in resources.items():
        props = res.setdefault("Properties", {})
        for prop in DEFERRED_PROPERTIES.get(res["Type"], ()):
            if prop in props:
                key = f"{_DEFERRED_OUTPUT_PREFIX}{len(deferred)}"
                outputs[key] = {"Value": {"Fn::ToJsonString": props.pop(prop)}}
                deferred[key] = {"Resource": name, "Type": res["Type"], "Property": prop}
    return deferred


def _adapt_for_moto(resources: dict[str, Any]) -> None:
    """Rewrite the properties moto 5.2.5 reads wrongly into forms it reads right (same meaning)."""
    for res in resources.values():
        props = res.get("Properties", {})
        # moto stores these policy documents as the dict it is given; KMS then answers 500 on every key call and
        # IAM on GetRolePolicy. As JSON strings (what the APIs themselves take) they work.
        if res["Type"] == "AWS::KMS::Key" and isinstance(props.get("KeyPolicy"), dict):
            props["KeyPolicy"] = {"Fn::ToJsonString": props["KeyPolicy"]}
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                policy["PolicyDocument"] = {"Fn::ToJsonString": policy["PolicyDocument"]}
        # moto looks for the API's name of the switch (Enabled), not CloudFormation's (SSEEnabled).
        sse = props.get("SSESpecification")
        if res["Type"] == "AWS::DynamoDB::Table" and isinstance(sse, dict) and "SSEEnabled" in sse:
            props["SSESpecification"] = {**sse, "Enabled": _as_bool(sse["SSEEnabled"])}


def deploy(
    endpoint_url: str | None,
    stack_name: str = "ytdlp-local",
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> dict[str, str]:
    """Create the local stack in the moto server at `endpoint_url`; return Settings env var names → values.

    `endpoint_url=None` is for moto in-process (`mock_aws()` active) or AWS_ENDPOINT_URL set. An existing stack of
    that name is reused as it is (parameters only apply when it is created).
    """
    if endpoint_url is None and not (os.environ.get("AWS_ENDPOINT_URL") or _moto_in_process()):
        raise ValueError("no emulator: pass endpoint_url, set AWS_ENDPOINT_URL or run under moto's mock_aws()")
    sam = load_template()
    unknown = set(parameters or {}) - set(sam.get("Parameters", {}))
    if unknown:
        raise ValueError(f"unknown template parameters: {sorted(unknown)}")
    template = local_template(translate(sam, parameters, region))

    # Only these two fields are read by make_client; model_construct keeps the environment from overriding them.
    settings = Settings.model_construct(aws_region=region, aws_endpoint_url=endpoint_url)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = make_client(service, settings, read_timeout=60)
        return clients[service]

    cfn = client("cloudformation")
    stack = _ensure_stack(cfn, stack_name, template, parameters or {})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    }
    # The deployed template, not the one just built: a reused stack may come from an older template.
    deployed = cfn.get_template(StackName=stack_name)["TemplateBody"]
    _apply_deferred(json.loads(deployed) if isinstance(deployed, str) else deployed, outputs, physical, client)

    env = {setting: outputs[key] for key, setting in OUTPUT_SETTINGS.items() if key in outputs}
    # The worker counts deliveries against the queue's maxReceiveCount: report the queue's own values.
    queue = client("sqs").get_queue_attributes(QueueUrl=env["JOBS_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    env["VISIBILITY_TIMEOUT"] = queue["VisibilityTimeout"]
    env["MAX_ATTEMPTS"] = str(json.loads(queue["RedrivePolicy"])["maxReceiveCount"])
    return env


# ---------------------------------------------------------------- deferred properties


def _apply_deferred(
    template: Mapping[str, Any], outputs: Mapping[str, str], physical: Mapping[str, str], client: Callable[[str], Any]
) -> None:
    """Apply what moto's CloudFormation ignored, from the resolved values the stack put in its outputs."""
    for key, target in template.get("Metadata", {}).get(_DEFERRED_OUTPUT_PREFIX, {}).items():
        value = json.loads(outputs[key])
        resource_type, name, prop = target["Type"], physical[target["Resource"]], target["Property"]
        if resource_type == "AWS::DynamoDB::Table":
            _apply_table_property(client("dynamodb"), name, prop, value)
        elif resource_type == "AWS::S3::Bucket":
            _apply_bucket_property(client("s3"), name, prop, value)
        else:  # pragma: no cover - DEFERRED_PROPERTIES and the appliers change together
            raise NotImplementedError(f"{resource_type}.{prop}")


def _apply_table_property(dynamodb: Any, table: str, prop: str, value: Mapping[str, Any]) -> None:
    if prop == "TimeToLiveSpecification":
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"AttributeName": value["AttributeName"], "Enabled": _as_bool(value["Enabled"])},
        )
    elif prop == "PointInTimeRecoverySpecification":
        dynamodb.update_continuous_backups(
            TableName=table,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": _as_bool(value.get("PointInTimeRecoveryEnabled", False))
            },
        )
    else:  # pragma: no cover
        raise NotImplementedError(f"AWS::DynamoDB::Table.{prop}")


def _apply_bucket_property(s3: Any, bucket: str, prop: str, value: Any) -> None:
    if prop == "PublicAccessBlockConfiguration":
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration={k: _as_bool(v) for k, v in value.items()}
        )
    elif prop == "OwnershipControls":
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=value)
    elif prop == "LifecycleConfiguration":
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in value["Rules"]]}
        )
    else:  # pragma: no cover
        raise NotImplementedError(f"AWS::S3::Bucket.{prop}")


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (only the fields the template uses)."""
    unsupported = set(rule) - {"Id", "Status", "Prefix", "ExpirationInDays", "AbortIncompleteMultipartUpload"}
    if unsupported:
        raise NotImplementedError(f"lifecycle rule fields {sorted(unsupported)}: extend _lifecycle_rule")
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return api


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


# ---------------------------------------------------------------- template walking


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _references(node: Any) -> set[str]:
    """Names (resources, parameters) that a template fragment refers to through Ref, GetAtt, Sub or DependsOn."""
    found: set[str] = set()
    for kind, value in _walk(node):
        if kind == "Ref" and isinstance(value, str):
            found.add(value)
        elif kind == "Fn::GetAtt":
            found.add(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
        elif kind == "Fn::Sub":
            text, local_vars = (value[0], value[1]) if isinstance(value, list) else (value, {})
            found |= {v.split(".", 1)[0] for v in _SUB_VARIABLE.findall(text)} - set(local_vars)
        elif kind == "DependsOn":
            found |= {value} if isinstance(value, str) else set(value)
    return {name for name in found if not name.startswith("AWS::")}


def _used_conditions(conditions: Mapping[str, Any], roots: list[Any]) -> dict[str, Any]:
    """The conditions that `roots` use, directly or through other conditions."""
    used: set[str] = set()
    pending = _condition_names(roots)
    while pending:
        name = pending.pop()
        if name in used or name not in conditions:
            continue
        used.add(name)
        pending |= _condition_names(conditions[name])
    return {name: copy.deepcopy(conditions[name]) for name in conditions if name in used}


def _condition_names(node: Any) -> set[str]:
    names: set[str] = set()
    for kind, value in _walk(node):
        if kind == "Condition" and isinstance(value, str):
            names.add(value)
        elif kind == "Fn::If" and isinstance(value, list) and value:
            names.add(value[0])
    return names


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested template fragment."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _functions_and_globals(sam: dict[str, Any]) -> Iterator[dict[str, Any]]:
    function_globals = sam.get("Globals", {}).get("Function")
    if isinstance(function_globals, dict):
        yield function_globals
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            yield resource.setdefault("Properties", {})


def _moto_in_process() -> bool:
    """Whether moto's mock_aws() is active in this process (then the default endpoints are the emulator)."""
    try:
        from moto.core.models import MockAWS
    except ImportError:  # pragma: no cover - moto is a dependency of the local stack
        return False
    return bool(getattr(MockAWS, "_mocks_active", False))


def _ensure_stack(cfn: Any, stack_name: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """The stack's description, once it is CREATE_COMPLETE; created from `template` unless it exists."""
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationError":  # "Stack with id ... does not exist"
            raise
        stack = None
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": str(value)}
                for key, value in parameters.items()
                if key in template["Parameters"]  # the others belong to resources the local stack drops
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
        try:
            cfn.get_waiter("stack_create_complete").wait(
                StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
        except WaiterError:
            pass  # reported below, with the stack's own reason
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")
    return stack


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.deploy_local --endpoint-url URL`: deploy and print the settings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    parser.add_argument("--endpoint-url", default=endpoint, required=endpoint is None, help="the moto server")
    parser.add_argument("--stack-name", default="ytdlp-local")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter")
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.parameter)
    # The emulator takes any credentials; do not make the user export fake ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    print(json.dumps(deploy(args.endpoint_url, args.stack_name, parameters or None, args.region), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- disk-backed backends


def mirror_to_backends(
    endpoint_url: str, backends: Mapping[str, str], tables: Mapping[str, str], buckets: Mapping[str, str], region: str = "us-east-1"
) -> None:
    """Create the tables and buckets that the stack deployed in moto on the backends that serve them from disk.

    moto's CloudFormation resolves the template (keys, indexes); `tables` and `buckets` map each name it deployed to
    the name the state keeps (the first start's), and those live on the backends in `backends` (service ->
    endpoint), which keep them across restarts. Existing ones are kept as they are.
    """
    moto = Settings.model_construct(aws_region=region, aws_endpoint_url=endpoint_url)
    if tables:
        source = make_client("dynamodb", moto)
        target = make_client("dynamodb", Settings.model_construct(aws_region=region, aws_endpoint_url=backends["dynamodb"]))
        existing = set(target.list_tables()["TableNames"])
        for deployed, kept in tables.items():
            if kept not in existing:
                target.create_table(**_table_definition(source.describe_table(TableName=deployed)["Table"], kept))
    if buckets:
        target = make_client("s3", Settings.model_construct(aws_region=region, aws_endpoint_url=backends["s3"]))
        existing = {b["Name"] for b in target.list_buckets().get("Buckets", [])}
        for kept in buckets.values():
            if kept not in existing:
                target.create_bucket(Bucket=kept)


def _table_definition(table: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateTable arguments for `name` from a DescribeTable answer (keys, attributes, global indexes; on demand)."""
    definition: dict[str, Any] = {
        "TableName": name,
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    indexes = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in table.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    return definition
