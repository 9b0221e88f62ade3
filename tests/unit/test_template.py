"""template.yaml: lints clean, translates, grants no wildcards, and deploys into the emulator (infra.deploy_local)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.deploy_local import TEMPLATE_PATH, deploy, load_template, translate
from functions.worker.settings import WorkerSettings
from shared.config import Settings

REGION = "us-east-1"
STACK = "template-test"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

# Actions without resource-level permissions: IAM accepts only "*" as their resource.
WILDCARD_RESOURCE_ALLOWED = {
    # The ECR login token is account-wide; pulls themselves are limited to this account's repositories.
    "ecr:GetAuthorizationToken",
}

RESOURCE_SETTINGS = {
    "KEYS_TABLE",
    "COOKIES_TABLE",
    "WORKERS_TABLE",
    "TASKS_TABLE",
    "RATE_LIMITS_TABLE",
    "RESULTS_TABLE",
    "USAGE_TABLE",
    "JOBS_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "NOTIFY_QUEUE_URL",
    "MEDIA_BUCKET",
    "KEYS_KMS_KEY_ID",
}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(load_template(), region=REGION)


def _resources_of(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(items: list[Any]) -> list[Any]:
    """List items with every `Fn::If` replaced by both of its branches (AWS::NoValue dropped): what could deploy."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            out += _branches([b for b in item["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}])
        else:
            out.append(item)
    return out


def _policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every identity policy in the template: role inline policies and policy resources."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in _branches(_as_list(policy["PolicyDocument"]["Statement"])):
                    yield f"{name}/{policy['PolicyName']}", statement
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in _branches(_as_list(props["PolicyDocument"]["Statement"])):
                yield name, statement


# ---------------------------------------------------------------- the template itself


def test_template_cfn_lint_reports_nothing() -> None:
    # GIVEN the venv's cfn-lint  WHEN it checks template.yaml  THEN it has nothing to say
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, cwd=TEMPLATE_PATH.parent, timeout=300
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_template_sam_translation_succeeds(translated: dict[str, Any]) -> None:
    types = {res["Type"] for res in translated["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    functions = _resources_of(translated, "AWS::Lambda::Function")
    handlers = {name: res["Properties"]["Handler"] for name, res in functions.items()}
    assert handlers == {
        "ApiFunction": "functions.api.handler.lambda_handler",
        "CleanupFunction": "functions.cleanup.handler.lambda_handler",
        "NotifyFunction": "functions.notify.handler.lambda_handler",
    }
    for function in functions.values():
        assert function["Properties"]["Runtime"] == "python3.11"
        assert function["Properties"]["Architectures"] == ["arm64"]
    assert "AWS::ApiGatewayV2::Api" in types
    schedules = [r["Properties"]["ScheduleExpression"] for r in _resources_of(translated, "AWS::Events::Rule").values()]
    assert schedules == ["rate(1 minute)"]


def test_template_roles_grant_no_wildcards(translated: dict[str, Any]) -> None:
    roles = _resources_of(translated, "AWS::IAM::Role")
    # Only the template's own roles: a SAM-generated one would bring the wildcard AWSLambdaBasicExecutionRole.
    assert set(roles) == {"ApiRole", "CleanupRole", "NotifyRole", "WorkerExecutionRole", "WorkerTaskRole"}
    for name, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), f"{name}: managed policies cannot be checked here"

    statements = list(_policy_statements(translated))
    assert statements
    for owner, statement in statements:
        assert statement["Effect"] == "Allow", owner
        assert "NotAction" not in statement and "NotResource" not in statement, owner
        actions = _as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], f"{owner}: wildcard action in {actions}"
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= WILDCARD_RESOURCE_ALLOWED, f"{owner}: '*' resource for {actions}"


def test_template_environment_names_are_settings(translated: dict[str, Any]) -> None:
    known = {name.upper() for name in WorkerSettings.model_fields} | {"AWS_REGION"}
    api = _resources_of(translated, "AWS::Lambda::Function")["ApiFunction"]["Properties"]["Environment"]["Variables"]
    cleanup = _resources_of(translated, "AWS::Lambda::Function")["CleanupFunction"]["Properties"]["Environment"]
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    worker = {e["Name"] for e in _branches(task["ContainerDefinitions"][0]["Environment"])}

    assert RESOURCE_SETTINGS <= set(api) and RESOURCE_SETTINGS <= set(cleanup["Variables"])
    assert {"TASKS_TABLE", "JOBS_QUEUE_URL", "MEDIA_BUCKET", "MAX_ATTEMPTS", "SHUTDOWN_GRACE"} <= worker
    for names in (set(api), set(cleanup["Variables"]), worker):
        assert names <= known, f"not Settings fields: {sorted(names - known)}"


def test_template_worker_reads_the_proxy_urls_secret_only_when_one_is_given(translated: dict[str, Any]) -> None:
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    env = {e["Name"]: e["Value"] for e in _branches(task["ContainerDefinitions"][0]["Environment"])}
    assert env["PROXY_URLS"] == {"Ref": "ProxyUrlsSecretArn"}  # the ARN, never the URLs themselves
    policy = translated["Resources"]["WorkerProxyUrlsPolicy"]
    assert policy["Condition"] == "HasProxyUrls"
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue" and statement["Resource"] == {"Ref": "ProxyUrlsSecretArn"}


def test_template_carries_no_admin_key(translated: dict[str, Any]) -> None:
    # A key in a parameter or an environment variable is readable by whoever may describe the stack or the
    # function; the first admin key is created after the deploy by infra.bootstrap_admin instead.
    assert not [name for name, p in translated["Parameters"].items() if p.get("NoEcho")]
    for name, function in _resources_of(translated, "AWS::Lambda::Function").items():
        assert "ADMIN_API_KEY" not in function["Properties"]["Environment"]["Variables"], name
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    assert "ADMIN_API_KEY" not in {e["Name"] for e in _branches(task["ContainerDefinitions"][0]["Environment"])}


def test_template_media_bucket_refuses_plain_http(translated: dict[str, Any]) -> None:
    # Not checked on the emulator: the local stack drops this policy (see infra.deploy_local.LOCAL_TYPES).
    policy = _resources_of(translated, "AWS::S3::BucketPolicy")["MediaBucketPolicy"]["Properties"]["PolicyDocument"]
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": ["MediaBucket", "Arn"]}, {"Fn::Sub": "${MediaBucket.Arn}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_template_worker_stops_after_its_shutdown_grace(translated: dict[str, Any]) -> None:
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    grace = translated["Parameters"]["ShutdownGrace"]
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert task["ContainerDefinitions"][0]["StopTimeout"] > int(grace["MaxValue"]) >= int(grace["Default"])


# ---------------------------------------------------------------- deployed into the emulator


@dataclass(frozen=True)
class Deployed:
    endpoint_url: str
    env: dict[str, str]
    seconds: float

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            started = time.monotonic()
            outputs = deploy(endpoint, stack_name=STACK, parameters={"MaxAttempts": "2"}, region=REGION)
            yield Deployed(endpoint, outputs, time.monotonic() - started)
        finally:
            server.stop()


@pytest.mark.integration
def test_deploy_returns_every_resource_setting(deployed: Deployed) -> None:
    assert set(deployed.env) == RESOURCE_SETTINGS | {"MAX_ATTEMPTS", "VISIBILITY_TIMEOUT"}
    assert all(deployed.env.values())
    assert deployed.env["MAX_ATTEMPTS"] == "2" and deployed.env["VISIBILITY_TIMEOUT"] == "60"
    assert deployed.env["KEYS_KMS_KEY_ID"].startswith("arn:aws:kms:")
    # What the API, worker and cleanup build their settings from.
    Settings(**{name.lower(): value for name, value in deployed.env.items()})
    assert deployed.seconds < 30


@pytest.mark.integration
def test_deploy_again_reuses_the_stack(deployed: Deployed) -> None:
    assert deploy(deployed.endpoint_url, stack_name=STACK, region=REGION) == deployed.env


@pytest.mark.integration
def test_deploy_tables_store_items(deployed: Deployed) -> None:
    ddb = deployed.client("dynamodb")
    items = {
        "KEYS_TABLE": {"pk": {"S": "hash#abc"}, "name": {"S": "admin"}},
        "TASKS_TABLE": {"task_id": {"S": "t-store"}, "status": {"S": "waiting"}},
        "RATE_LIMITS_TABLE": {"pk": {"S": "key#abc"}, "slot": {"N": "1"}, "count": {"N": "1"}},
    }
    for setting, item in items.items():
        ddb.put_item(TableName=deployed.env[setting], Item=item)
        key = {k: v for k, v in item.items() if k in ("pk", "task_id", "slot")}
        assert ddb.get_item(TableName=deployed.env[setting], Key=key, ConsistentRead=True)["Item"] == item


@pytest.mark.integration
def test_deploy_tasks_by_expiry_index_finds_expired_tasks(deployed: Deployed) -> None:
    ddb, table = deployed.client("dynamodb"), deployed.env["TASKS_TABLE"]
    for task_id, expires_at in (("t-old", 100), ("t-new", 10_000)):
        item = {"task_id": {"S": task_id}, "gc": {"S": "idx"}, "expires_at": {"N": str(expires_at)}, "x": {"S": "1"}}
        ddb.put_item(TableName=table, Item=item)

    found = ddb.query(
        TableName=table,
        IndexName="by-expiry",
        KeyConditionExpression="gc = :gc AND expires_at <= :now",
        ExpressionAttributeValues={":gc": {"S": "idx"}, ":now": {"N": "5000"}},
    )["Items"]

    assert found == [{"task_id": {"S": "t-old"}, "gc": {"S": "idx"}, "expires_at": {"N": "100"}}]  # KEYS_ONLY


@pytest.mark.integration
def test_deploy_tables_have_ttl_and_point_in_time_recovery(deployed: Deployed) -> None:
    ddb = deployed.client("dynamodb")
    for setting in ("TASKS_TABLE", "RATE_LIMITS_TABLE"):
        ttl = ddb.describe_time_to_live(TableName=deployed.env[setting])["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}, setting
    for setting in ("KEYS_TABLE", "TASKS_TABLE"):
        backups = ddb.describe_continuous_backups(TableName=deployed.env[setting])["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", setting
    keys = ddb.describe_table(TableName=deployed.env["KEYS_TABLE"])["Table"]
    assert keys["SSEDescription"]["Status"] == "ENABLED"
    assert keys["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.integration
def test_deploy_jobs_queue_round_trip(deployed: Deployed) -> None:
    sqs, queue = deployed.client("sqs"), deployed.env["JOBS_QUEUE_URL"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (attributes["ReceiveMessageWaitTimeSeconds"], attributes["SqsManagedSseEnabled"]) == ("20", "true")
    body = json.dumps({"task_id": f"t-{uuid.uuid4()}"})

    sqs.send_message(QueueUrl=queue, MessageBody=body)
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10)["Messages"]

    assert [m["Body"] for m in messages] == [body]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])


@pytest.mark.integration
def test_deploy_dead_letter_queue_takes_jobs_after_max_attempts(deployed: Deployed) -> None:
    sqs, queue, dlq = deployed.client("sqs"), deployed.env["JOBS_QUEUE_URL"], deployed.env["DEAD_LETTER_QUEUE_URL"]
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    queue_attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]
    redrive = json.loads(queue_attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dlq_attributes["QueueArn"], "maxReceiveCount": 2}
    assert dlq_attributes["MessageRetentionPeriod"] == "1209600"
    body = f"dies-{uuid.uuid4()}"
    sqs.send_message(QueueUrl=queue, MessageBody=body)

    # Two deliveries that never finish (visibility 0 = the worker died at once), then it is gone from the queue.
    deliveries = 0
    for _ in range(4):
        received = sqs.receive_message(
            QueueUrl=queue, VisibilityTimeout=0, WaitTimeSeconds=0, MaxNumberOfMessages=10
        ).get("Messages", [])
        deliveries += sum(m["Body"] == body for m in received)

    assert deliveries == 2
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
    assert body in [m["Body"] for m in dead]


@pytest.mark.integration
def test_deploy_media_bucket_is_private_and_expires_task_files(deployed: Deployed) -> None:
    s3, bucket = deployed.client("s3"), deployed.env["MEDIA_BUCKET"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["expire-task-files"]["Filter"] == {"Prefix": "tasks/"}
    assert rules["expire-task-files"]["Expiration"] == {"Days": 8}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    s3.put_object(Bucket=bucket, Key="tasks/t-1/video.mp4", Body=b"media")

    # What the API hands out: a presigned GET that works without credentials.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "tasks/t-1/video.mp4"})
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"media"


@pytest.mark.integration
def test_deploy_keys_kms_key_encrypts_by_arn_and_alias(deployed: Deployed) -> None:
    kms, key_arn = deployed.client("kms"), deployed.env["KEYS_KMS_KEY_ID"]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True

    by_alias = kms.encrypt(KeyId=f"alias/{STACK}-api-keys", Plaintext=b"secret")

    assert by_alias["KeyId"] == key_arn
    assert kms.decrypt(CiphertextBlob=by_alias["CiphertextBlob"])["Plaintext"] == b"secret"
    encrypted = kms.encrypt(KeyId=key_arn, Plaintext=b"other")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=encrypted, KeyId=key_arn)["Plaintext"] == b"other"


def test_template_pot_provider_sidecar_and_cookies_secret_are_optional(translated: dict[str, Any]) -> None:
    # GIVEN the worker task definition  THEN the sidecar and the cookies secret exist only when their parameter is set
    params = translated["Parameters"]
    assert params["PotProviderImage"]["Default"] == "" and params["CookiesSecretArn"]["Default"] == ""
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    sidecar = task["ContainerDefinitions"][1]["Fn::If"]
    assert sidecar[0] == "HasPotProvider" and sidecar[2] == {"Ref": "AWS::NoValue"}
    assert sidecar[1]["Essential"] is False and sidecar[1]["Image"] == {"Ref": "PotProviderImage"}
    env = {e["Name"]: e["Value"] for e in _branches(task["ContainerDefinitions"][0]["Environment"])}
    assert env["COOKIES_FILE"] == {"Ref": "CookiesSecretArn"} and env["POT_PROVIDER_URL"] == "http://127.0.0.1:4416"
    reads = [s for _, s in _policy_statements(translated) if s.get("Sid") == "ReadOperatorCookies"]
    assert reads and reads[0]["Resource"] == {"Ref": "CookiesSecretArn"}
