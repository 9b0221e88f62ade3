"""Failing dependencies: with DynamoDB, SQS, S3 or KMS failing, every endpoint answers JSON 503 (or its usual answer when it
does not need the failing service), never a 500 or a traceback, and a failed request leaves nothing half-done.

Faults are injected with botocore's event system on the clients the app's Container uses: a handler registered first
on `before-send.<service>[.<Operation>]` raises what a failing service or network produces, before moto sees the
request. Those clients make one attempt (the app's own make up to 4), so no test waits on retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from shared.aws import AwsClients, make_client
from shared.models import media_key
from tests.support.api import Api, build_api
from tests.support.faults import FAULTS, SERVICES, Faults, single_attempt_clients
from tests.support.stack import DeployedStack
from tests.support.state import queue_depth, scan_all, snapshot


@dataclass
class Call:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    needs: frozenset[str]  # the services this endpoint talks to
    healthy: int  # its status when everything works


URL = "https://media.example.com/watch?v=1"
DB = frozenset({"dynamodb"})
# In this order: get_key reads the key that delete_key then deletes.
CALLS = [
    Call("health", "GET", "/health", None, DB, 200),
    Call("check_permissions", "POST", "/check_permissions", {"permissions": ["get_info"]}, DB, 200),
    Call("create_key", "POST", "/create_key", {"name": "new-key", "permissions": ["get_info"]}, DB | {"kms"}, 201),
    Call("get_keys", "GET", "/get_keys", None, DB | {"kms"}, 200),
    Call("get_key", "GET", "/get_key/victim", None, DB | {"kms"}, 200),
    Call("delete_key", "DELETE", "/delete_key/victim", None, DB, 200),
    Call("get_video", "POST", "/get_video", {"url": URL}, DB | {"sqs"}, 200),
    Call("get_audio", "POST", "/get_audio", {"url": URL, "start_time": 5}, DB | {"sqs"}, 200),
    Call("get_live_video", "POST", "/get_live_video", {"url": URL, "duration": 5}, DB | {"sqs"}, 200),
    Call("get_live_audio", "POST", "/get_live_audio", {"url": URL, "duration": 5}, DB | {"sqs"}, 200),
    Call("get_info", "POST", "/get_info", {"url": URL}, DB | {"sqs"}, 200),
    Call("status", "GET", "/status/{video}", None, DB, 200),
    # The presigned link is computed locally, but S3 is asked whether the file is still there (gone: 404, not a
    # redirect to a 404 in storage's own XML).
    Call("media_file", "GET", "/files/{video}/video.mp4", None, DB | {"s3"}, 307),
    Call("info_json", "GET", "/files/{info}/info.json", None, DB | {"s3"}, 200),
    Call("get_cookies", "GET", "/cookies", None, DB, 404),  # none stored yet
    Call("put_cookies", "PUT", "/cookies", {"cookies": ".example.com\tTRUE\t/\tFALSE\t0\tn\tv\n"}, DB | {"kms"}, 204),
    Call("delete_cookies", "DELETE", "/cookies", None, DB, 204),
    Call("usage", "GET", "/usage", None, DB, 200),
    Call("key_usage", "GET", "/usage/admin", None, DB, 200),
]
SUBMISSIONS = {"get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"}

# Whole services failing, each in every way.
SCENARIOS: dict[str, tuple[str, str, tuple[str, ...], set[str]]] = {
    f"{service}-{fault}": (service, fault, (), {c.name for c in CALLS if service in c.needs}) for service in SERVICES for fault in FAULTS
}
# Single DynamoDB operations failing: the steps of a request that come after others have succeeded.
SCENARIOS.update(
    {
        "dynamodb-delete-item": ("dynamodb", "server-error", ("DeleteItem",), {"delete_key", "delete_cookies"}),
        "dynamodb-put-item": ("dynamodb", "server-error", ("PutItem",), SUBMISSIONS | {"create_key", "put_cookies"}),  # the task, after the rate-limit slot
        "dynamodb-update-item": ("dynamodb", "throttled", ("UpdateItem",), SUBMISSIONS),  # taking the slot
        "dynamodb-query": ("dynamodb", "read-timeout", ("Query",), SUBMISSIONS | {"usage", "key_usage"}),  # reading the slots
        # delete_key scans only to spare a create_key holder; health scans the workers' heartbeat records
        "dynamodb-scan": ("dynamodb", "server-error", ("Scan",), {"get_keys", "health"}),
        "dynamodb-get-item": ("dynamodb", "connect-timeout", ("GetItem",), {c.name for c in CALLS}),  # authentication, health
        "kms-decrypt": ("kms", "server-error", ("Decrypt",), {"get_keys", "get_key"}),
        "kms-encrypt": ("kms", "throttled", ("Encrypt",), {"create_key"}),
    }
)


@dataclass
class World:
    api: Api
    faults: Faults
    ids: dict[str, str]


@pytest.fixture(scope="module")
def fault_clients(deployment: DeployedStack) -> AwsClients:
    """Clients like the app's but making a single attempt, built once (building a client takes a while)."""
    return single_attempt_clients(deployment.settings)


@pytest.fixture
def faults(fault_clients: AwsClients) -> Iterator[Faults]:
    injected = Faults(fault_clients)
    yield injected
    injected.heal()


@pytest.fixture
def world(aws: DeployedStack, faults: Faults) -> World:
    """The app on the fault clients, an admin key, a key to delete, and two completed tasks; all made healthy.

    No key cache: every request authenticates against DynamoDB, so each one shows how it fails when that is down
    (with the cache, a key seen in the last KEY_CACHE_SECONDS authenticates without it: tests/unit/test_key_cache.py).
    """
    api = build_api(aws, clients=faults.clients, key_cache_seconds=0)
    api.make_key("victim", ["get_info"])
    ids = {"video": completed(api, aws, "get_video", "video.mp4", b"\x00\x00\x00\x18ftypmp42"), "info": completed(api, aws, "get_info", "info.json", b'{"title": "t"}')}
    return World(api, faults, ids)


def completed(api: Api, aws: DeployedStack, task_type: str, file_name: str, payload: bytes) -> str:
    task_id = api.client.post(f"/{task_type}", json={"url": URL}, headers=api.headers()).json()["task_id"]
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, file_name), Body=payload)
    assert api.container.tasks.complete(task_id, file_name, ttl_seconds=600)
    return task_id


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_failing_dependency_gives_503_json_and_leaves_nothing_half_done(world, aws, scenario):
    service, fault, operations, affected = SCENARIOS[scenario]
    jobs_before = queue_depth(aws)
    # GIVEN the dependency failing
    world.faults.fail(service, fault, operations)
    for call in CALLS:
        expected = 503 if call.name in affected else call.healthy
        before = snapshot(aws) if expected == 503 else None
        # WHEN each endpoint is called with a valid key
        r = world.api.client.request(
            call.method, call.path.format(**world.ids), json=call.body, headers=world.api.headers(), follow_redirects=False
        )
        # THEN the endpoints that need the service answer 503 {"error": ...}, the others as usual; never 500 or a traceback
        assert r.status_code == expected, (scenario, call.name, r.status_code, r.text)
        assert "Traceback" not in r.text and "botocore" not in r.text, (scenario, call.name, r.text)
        if expected == 503:
            assert set(r.json()) == {"error"} and "unavailable" in r.json()["error"], (scenario, call.name, r.text)
            # AND nothing was written: no task without its job, no half-created or half-deleted key, no slot taken
            assert snapshot(aws) == before, (scenario, call.name)
    world.faults.heal()
    # Every waiting task has its job in the queue: the accepted ones, and only those.
    waiting = [t for t in scan_all(aws, aws.settings.tasks_table) if t["status"]["S"] == "waiting"]
    accepted = len(SUBMISSIONS - affected)
    assert len(waiting) == accepted and queue_depth(aws) - jobs_before == accepted, scenario


def test_failing_dependency_answers_a_request_without_a_key_with_401_not_503(world):
    # The key check needs DynamoDB only for a key that was sent: no key is 401 whatever is down.
    world.faults.fail("dynamodb", "unreachable")
    r = world.api.client.get("/get_keys")
    assert r.status_code == 401 and r.json() == {"error": "No API key provided"}


def test_failing_kms_creates_neither_key_item(world, aws):
    world.faults.fail("kms", "server-error")
    r = world.api.client.post("/create_key", json={"name": "half", "permissions": ["get_info"]}, headers=world.api.headers())
    assert r.status_code == 503
    pks = [i["pk"]["S"] for i in scan_all(aws, aws.settings.keys_table)]
    assert "name#half" not in pks and len([p for p in pks if p.startswith("hash#")]) == len([p for p in pks if p.startswith("name#")])
    world.faults.heal()
    assert world.api.client.post("/create_key", json={"name": "half", "permissions": ["get_info"]}, headers=world.api.headers()).status_code == 201


def test_failing_queue_withdraws_the_task_and_gives_the_slot_back(aws, faults):
    # GIVEN a key allowed one task per window and a queue that refuses messages
    api = build_api(aws, clients=faults.clients, request_limit=1)
    key = api.make_key("one-a-window", ["get_info"])
    faults.fail("sqs", "server-error")
    # WHEN a submission fails to queue THEN 503 and no task waits
    assert api.client.post("/get_info", json={"url": URL}, headers=api.headers(key)).status_code == 503
    assert scan_all(aws, aws.settings.tasks_table) == []
    faults.heal()
    # AND the key's one slot is free again: the next submission is accepted, not 429
    assert api.client.post("/get_info", json={"url": URL}, headers=api.headers(key)).status_code == 200


def test_fault_clients_make_one_attempt_and_the_app_clients_retry_in_standard_mode(aws, fault_clients, faults):
    # botocore's `max_attempts` counts retries: the app's 3 mean up to 4 attempts, in standard mode, with short timeouts.
    config = make_client("dynamodb", aws.settings).meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert config.connect_timeout <= 3 and config.read_timeout <= 10
    # The fault clients make one: a failing call is sent once.
    sent: list[str] = []
    fault_clients.kms.meta.events.register_first("before-send.kms", lambda **kw: sent.append(kw["event_name"]), unique_id="count")
    faults.fail("kms", "server-error")
    with pytest.raises(Exception):
        fault_clients.kms.list_keys()
    fault_clients.kms.meta.events.unregister("before-send.kms", unique_id="count")
    assert len(sent) == 1
