"""Keys: never stored, logged or echoed in plaintext; no key grants what it lacks; the last key manager stays."""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import pytest

from shared.models import KEY_NAME_PATTERN, PERMISSIONS, media_key
from shared.stores.keys import hash_key
from tests.support.api import Api, build_api
from tests.support.faults import Faults, single_attempt_clients
from tests.support.state import scan_all, tables

ROOT = Path(__file__).resolve().parents[2]
URL = "https://media.example.com/watch?v=1"
TASKS = {"get_video": {}, "get_audio": {"start_time": 1}, "get_live_video": {"duration": 5}, "get_live_audio": {"duration": 5}, "get_info": {}}


def forms(key: str) -> list[str]:
    """How a key could show up: as is, base64-encoded (KMS parameters in botocore's logs), hex-encoded."""
    raw = key.encode()
    return [key, base64.b64encode(raw).decode(), raw.hex()]


def exercise(api: Api) -> list[str]:
    """Create, list, reveal and use keys, submit every task type, and fail a few calls; returns every key involved."""
    user = api.make_key("user", [*TASKS, "get_key"])
    other = api.make_key("other", ["get_info"])
    for name in ("user", "other"):
        assert api.client.get(f"/get_key/{name}", headers=api.headers()).status_code == 200
    assert api.client.get("/get_keys", headers=api.headers()).status_code == 200
    assert api.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=api.headers(user)).status_code == 200
    for endpoint, fields in TASKS.items():
        r = api.client.post(f"/{endpoint}", json={"url": URL, **fields}, headers=api.headers(user))
        assert r.status_code == 200
        assert api.client.get(f"/status/{r.json()['task_id']}", headers=api.headers(user)).status_code == 200
    # Refusals: a near miss of a real key, a key lacking the permission, a duplicate name.
    assert api.client.get("/get_keys", headers=api.headers(user[:-1] + ("A" if user[-1] != "A" else "B"))).status_code == 401
    assert api.client.get("/get_keys", headers=api.headers(other)).status_code == 403
    assert api.client.post("/create_key", json={"name": "user", "permissions": []}, headers=api.headers()).status_code == 409
    return [api.admin_key, user, other]


def test_keys_no_plaintext_in_any_table_message_or_object(api, aws):
    # GIVEN keys created, revealed and used to submit every task type, and a finished task's file
    keys = exercise(api)
    task_id = api.client.post("/get_info", json={"url": URL}, headers=api.headers(keys[1])).json()["task_id"]
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, "info.json"), Body=b"{}")
    # WHEN every item of every table, every queued message and every object key is read
    items = {table: scan_all(aws, table) for table in tables(aws)}
    messages = aws.clients.sqs.receive_message(QueueUrl=aws.settings.jobs_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    objects = aws.clients.s3.list_objects_v2(Bucket=aws.settings.media_bucket)["Contents"]
    dump = repr(items) + repr(messages) + repr(objects)
    # THEN no key appears in any form; keys, tasks and rate-limit slots refer to a key by its SHA-256 digest only
    for key in keys:
        for form in forms(key):
            assert form not in dump
    user_hash = hash_key(keys[1])
    assert {i["owner"]["S"] for i in items[aws.settings.tasks_table]} == {user_hash}
    assert {i["pk"]["S"] for i in items[aws.settings.rate_limits_table]} == {user_hash}
    assert any(i["pk"]["S"] == "hash#" + user_hash for i in items[aws.settings.keys_table])
    # AND the stored key material is KMS ciphertext, bound to the key's name
    stored = next(i for i in items[aws.settings.keys_table] if i["pk"]["S"] == "name#user")
    assert keys[1].encode() not in stored["ciphertext"]["B"]
    with pytest.raises(aws.clients.kms.exceptions.InvalidCiphertextException):
        aws.clients.kms.decrypt(CiphertextBlob=stored["ciphertext"]["B"], EncryptionContext={"key_name": "other"})


def test_keys_never_logged(aws, caplog):
    # GIVEN every log record captured: the app's own loggers at DEBUG, botocore and boto3 at INFO (their deployed level)
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        caplog.set_level(logging.INFO, logger=name)
    caplog.set_level(logging.WARNING, logger="moto")  # the emulator, not the app
    clients = single_attempt_clients(aws.settings)
    api = build_api(aws, clients=clients)
    # WHEN keys are created, listed, revealed and used, tasks submitted, and KMS and DynamoDB fail (warnings with tracebacks)
    keys = exercise(api)
    faults = Faults(clients)
    for service in ("kms", "dynamodb"):
        faults.fail(service, "server-error")
        assert api.client.post("/create_key", json={"name": f"during-{service}", "permissions": []}, headers=api.headers()).status_code == 503
        assert api.client.get("/get_key/user", headers=api.headers()).status_code == 503
        faults.heal()
    # THEN no record, with its arguments, extra fields and traceback, holds any key in any form
    assert caplog.records, "nothing was logged: the capture is not working"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    text = "\n".join(formatter.format(r) + repr(vars(r)) for r in caplog.records)
    for key in keys:
        for form in forms(key):
            assert form not in text
    assert any(r.levelno == logging.WARNING and r.exc_info for r in caplog.records), "the 503s' warnings were not captured"


def test_keys_nothing_in_the_code_turns_on_debug_logging_for_aws_libraries():
    # botocore at DEBUG logs request parameters and response bodies, which include KMS Encrypt's plaintext and
    # Decrypt's answer (base64 of the key): the deployed code never enables it.
    pattern = re.compile(r"set_stream_logger|logging\.DEBUG|level\s*=\s*['\"]debug|setLevel\(\s*['\"]DEBUG|log_level\s*=\s*['\"]debug|LOG_LEVEL.*DEBUG", re.I)
    offenders = []
    for folder in ("functions", "shared", "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    template = (ROOT / "template.yaml").read_text()
    assert not re.search(r"(ApplicationLogLevel|SystemLogLevel|LOG_LEVEL)\s*:\s*['\"]?(DEBUG|TRACE)", template)
    assert offenders == []


def test_keys_are_not_echoed_in_error_messages(api):
    key = api.make_key("echo", ["get_info"])
    for sent in (key + "x", key[:-1], key.upper(), "k" * 300, key):
        for method, path in (("get", "/get_keys"), ("get", "/get_key/admin"), ("delete", "/delete_key/admin"), ("get", "/status/AAAAAAAAAAAAAAAA")):
            r = api.client.request(method, path, headers={"X-API-Key": sent})
            assert r.status_code in (401, 403, 404) and set(r.json()) == {"error"}
            for form in forms(sent) + forms(key):
                assert form not in r.text


def test_keys_cannot_grant_permissions_they_lack(api):
    # GIVEN a key manager holding create_key and two task permissions
    manager = api.make_key("manager", ["create_key", "get_info", "get_audio"])
    # WHEN it tries to create keys with more than it holds THEN 403 naming what it lacks, and nothing is created
    for asked in (["delete_key"], ["get_info", "get_keys"], ["get_key"], list(PERMISSIONS), ["create_key", "get_video"]):
        r = api.client.post("/create_key", json={"name": "escalated", "permissions": asked}, headers=api.headers(manager))
        assert r.status_code == 403 and set(r.json()) == {"error"}, asked
    # Case and spelling variants are not permissions at all.
    for asked in (["GET_KEYS"], ["get_keys "], ["get-keys"], ["*"], ["admin"]):
        r = api.client.post("/create_key", json={"name": "escalated", "permissions": asked}, headers=api.headers(manager))
        assert r.status_code == 400, asked
    assert api.client.get("/get_key/escalated", headers=api.headers()).status_code == 404
    # AND what it holds it can pass on (repeats are dropped), no more
    r = api.client.post("/create_key", json={"name": "helper", "permissions": ["get_info", "get_info", "create_key"]}, headers=api.headers(manager))
    assert r.status_code == 201
    listing = api.client.get("/get_keys", headers=api.headers()).json()
    assert listing["helper"]["permissions"] == ["get_info", "create_key"]
    # A key without delete_key deletes nothing, its own name included.
    assert api.client.delete("/delete_key/helper", headers=api.headers(manager)).status_code == 403
    assert api.client.delete("/delete_key/manager", headers=api.headers(manager)).status_code == 403


def test_keys_last_key_manager_cannot_delete_itself(api):
    # GIVEN a second manager that may delete keys, and the admin deleted by it
    second = api.make_key("second", ["create_key", "delete_key"])
    assert api.client.delete("/delete_key/admin", headers=api.headers(second)).status_code == 200
    # WHEN the last key holding create_key deletes itself THEN 409 and it still works
    r = api.client.delete("/delete_key/second", headers=api.headers(second))
    assert r.status_code == 409 and set(r.json()) == {"error"}
    assert api.client.post("/check_permissions", json={"permissions": ["create_key"]}, headers=api.headers(second)).status_code == 200
    # AND a key without create_key is deleted as usual
    api.client.post("/create_key", json={"name": "plain", "permissions": []}, headers=api.headers(second))
    assert api.client.delete("/delete_key/plain", headers=api.headers(second)).status_code == 200


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("A.b_c-9", True),
        ("9" * 64, True),
        ("9" * 65, False),
        ("", False),
        (".a", False),
        ("-a", False),
        ("_a", False),
        ("a b", False),
        ("a/b", False),
        ("a#b", False),
        ("a\u0000", False),
        ("\u202ea", False),
        ("a\u200b", False),
        ("\u00e9", False),
        ("a\nb", False),
    ],
)
def test_keys_names_follow_the_documented_pattern(api, name, valid):
    assert bool(KEY_NAME_PATTERN.fullmatch(name)) is valid
    r = api.client.post("/create_key", json={"name": name, "permissions": []}, headers=api.headers())
    assert r.status_code == (201 if valid else 400), (name, r.text)


def test_keys_pattern_is_documented_in_the_security_notes():
    notes = (ROOT / "docs" / "security.md").read_text()
    assert KEY_NAME_PATTERN.pattern in notes


def test_keys_openapi_declares_the_key_header_on_every_operation_but_health_and_signed_links(api):
    spec = json.loads(api.client.get("/openapi.json").text)
    assert spec["components"]["securitySchemes"] == {
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Your API key."}
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security") == [{"APIKeyHeader": []}]
            # /health and the signed file link (its token is the credential) need no key.
            assert secured is (path not in ("/health", "/files/{task_id}/{token}/{name}")), (method, path)
            assert ("401" in operation["responses"]) is secured, (method, path)
