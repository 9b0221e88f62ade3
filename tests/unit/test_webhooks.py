"""Webhooks: signing, the event body, the retry schedule and its chaining, the notifier's outcomes and the
connect-time address check, over template.yaml's tables and queues in moto and a loopback receiver."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
import standardwebhooks

from functions.notify.handler import build_service, handle_all, lambda_handler
from functions.notify.sender import DeliveryError, Sender
from functions.notify.service import NotifyService
from shared.secrets import Secret
from shared.stores.notify_queue import Event, NotifyQueue
from shared.stores.tasks import TaskStore
from shared.stores.webhook_secrets import GRACE_SECONDS, WebhookSecretStore
from functions.notify.signing import sign_headers
from shared.webhooks import COMPLETED, FAILED, event_body, hop, judge, new_secret
from tests.support.stack import DeployedStack
from tests.support.webhook_receiver import WebhookReceiver

OWNER = "f" * 64


# ---------------------------------------------------------------- pure parts


def test_new_secret_is_standard_webhooks_form() -> None:
    # WHEN a secret is made  THEN it is whsec_ + base64 of 24 to 64 random bytes, and different every time
    secret = new_secret().reveal()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert new_secret().reveal() != secret
    assert "whsec_" not in repr(new_secret())  # wrapped: a log line cannot print it


def test_sign_headers_verify_with_the_standardwebhooks_library() -> None:
    # GIVEN a body signed with one secret  WHEN a receiver verifies it  THEN it gets the body back; a change fails
    secret = new_secret()
    body = event_body(COMPLETED, "2026-01-01T00:00:00+00:00", {"task_id": "abc", "status": "completed"})
    headers = sign_headers([secret], "msg_abc", body)
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-signature"].startswith("v1,")
    assert standardwebhooks.Webhook(secret.reveal()).verify(body, headers)["data"]["task_id"] == "abc"
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret.reveal()).verify(body.replace(b"abc", b"abd"), headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret().reveal()).verify(body, headers)


def test_sign_headers_with_two_secrets_verify_with_either() -> None:
    # GIVEN a rotation's grace period (two secrets)  WHEN an event is signed  THEN both the old and the new secret verify
    old, new = new_secret(), new_secret()
    body = event_body(FAILED, "2026-01-01T00:00:00+00:00", {"task_id": "x"})
    headers = sign_headers([new, old], "msg_x", body, now=datetime.now(timezone.utc))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret.reveal()).verify(body, headers)["type"] == FAILED


@pytest.mark.parametrize(
    ("code", "attempts", "expected"),
    [
        (200, 1, ("delivered", None)),
        (204, 4, ("delivered", None)),
        (500, 1, ("pending", 5)),
        (302, 2, ("pending", 300)),  # a redirect is a failure, retried like any other
        (None, 3, ("pending", 1800)),  # no answer at all
        (410, 1, ("failed", None)),  # Gone: the receiver asks to stop
        (500, 10, ("failed", None)),  # the schedule is used up
    ],
)
def test_judge_follows_the_retry_schedule(code: int | None, attempts: int, expected: tuple[str, int | None]) -> None:
    delays = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    outcome = judge(code, attempts, delays)
    assert (outcome.status, outcome.retry_in) == expected


def test_hop_chains_waits_longer_than_sqs_allows() -> None:
    # SQS delays a message by at most 900 s: 7200 s is eight hops of 900
    assert hop(5) == (5, 0) and hop(900) == (900, 0) and hop(2000) == (900, 1100)
    wait, hops = 7200, 0
    while wait:
        _, wait = hop(wait)
        hops += 1
    assert hops == 8


def test_default_retry_delays_are_the_standard_schedule(aws: DeployedStack) -> None:
    assert aws.settings.webhook_delays == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


# ---------------------------------------------------------------- the secret store


def test_secret_store_creates_once_rotates_with_grace_and_deletes(aws: DeployedStack) -> None:
    clock = [1_000_000.0]
    store = WebhookSecretStore(aws.clients.dynamodb, aws.settings.keys_table, aws.clients.kms, aws.settings.keys_kms_key_id, clock=lambda: clock[0])
    # GIVEN a key without a secret  WHEN it is read twice  THEN one secret is made and kept
    first = store.get_or_create(OWNER)
    assert store.get_or_create(OWNER) == first and store.signing(OWNER) == [first]
    # AND it is stored encrypted, not as text
    item = aws.clients.dynamodb.get_item(TableName=aws.settings.keys_table, Key={"pk": {"S": "whsec#" + OWNER}})["Item"]
    assert first.reveal().encode() not in json.dumps({k: str(v) for k, v in item.items()}).encode()
    # WHEN it is rotated  THEN the new one is current and both sign during the grace period, the new one only after
    second = store.rotate(OWNER)
    assert second != first and store.get_or_create(OWNER) == second
    assert store.signing(OWNER) == [second, first]
    clock[0] += GRACE_SECONDS + 1
    assert store.signing(OWNER) == [second]
    # WHEN the key's secrets are deleted  THEN nothing signs any more
    store.delete(OWNER)
    assert store.signing(OWNER) == []


# ---------------------------------------------------------------- the notifier


class RecordingSqs:
    """Stands in for SQS where a test needs to see DelaySeconds (moto hides delayed messages)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _stack(aws: DeployedStack, sqs: Any = None, resolver: Any = None, delays: str = "1,1,1") -> tuple[NotifyService, TaskStore, WebhookSecretStore, Any]:
    settings = aws.settings.model_copy(update={"allow_private_networks": resolver is None, "webhook_retry_delays": delays})
    sqs = sqs or RecordingSqs()
    clients = type(aws.clients)(settings, dynamodb=aws.clients.dynamodb, sqs=sqs, s3=aws.clients.s3, kms=aws.clients.kms)
    service = build_service(settings, clients, **({"resolver": resolver} if resolver else {}))
    tasks = TaskStore(aws.clients.dynamodb, settings.tasks_table)
    secrets = WebhookSecretStore(aws.clients.dynamodb, settings.keys_table, aws.clients.kms, settings.keys_kms_key_id)
    return service, tasks, secrets, sqs


def _finished_task(tasks: TaskStore, secrets: WebhookSecretStore, task_id: str, url: str, completed: bool = True) -> Secret:
    secret = secrets.get_or_create(OWNER)
    tasks.create(task_id, OWNER, "get_video", "http://127.0.0.1:1/v.mp4", {"video_format": "bestvideo"}, webhook_url=url)
    if completed:
        tasks.complete(task_id, "video.mp4", 600)
    else:
        tasks.fail(task_id, "HTTP Error 404: Not Found", 600)
    return secret


def test_notifier_delivers_a_signed_task_completed(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    service, tasks, secrets, sqs = _stack(aws)
    secret = _finished_task(tasks, secrets, "Task000000000001", receiver.plan("/ok", 200))
    # WHEN the event is handled
    assert service.handle(Event("Task000000000001", COMPLETED, "msg_Task000000000001")) == "delivered"
    # THEN the receiver verifies it with the key's secret, and it holds the status view, the id and a download link
    (delivery,) = receiver.deliveries("/ok")
    payload = delivery.verify(secret.reveal())
    task = tasks.get("Task000000000001")
    assert payload["type"] == "task.completed" and payload["timestamp"] == task["completed_time"]
    data = payload["data"]
    assert data["task_id"] == "Task000000000001" and data["status"] == "completed" and data["video_format"] == "bestvideo"
    assert data["file"].startswith("/files/Task000000000001/") and data["file"].endswith("/video.mp4")
    url = data["download_url"]
    assert "tasks/Task000000000001/video.mp4" in url and ("X-Amz-Expires" in url or "Expires=" in url)
    assert "webhook" not in data
    assert delivery.headers["webhook-id"] == "msg_Task000000000001"
    # AND the status shows it delivered; nothing more is queued
    assert (task["wh_status"], task["wh_attempts"], task["wh_code"]) == ("delivered", 1, 200)
    assert sqs.sent == []


def test_notifier_retries_a_failure_after_the_next_delay(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    service, tasks, secrets, sqs = _stack(aws, delays="5,2000")
    _finished_task(tasks, secrets, "Task000000000002", receiver.plan("/flaky", 500), completed=False)
    event = Event("Task000000000002", FAILED, "msg_Task000000000002")
    # WHEN the receiver answers 500  THEN the attempt is counted and the next one queued 5 s later, same id
    assert service.handle(event) == "pending"
    task = tasks.get("Task000000000002")
    assert (task["wh_status"], task["wh_attempts"], task["wh_code"]) == ("pending", 1, 500)
    (sent,) = sqs.sent
    body = json.loads(sent["MessageBody"])
    assert sent["DelaySeconds"] == 5 and body == {"task_id": "Task000000000002", "type": "task.failed", "webhook_id": "msg_Task000000000002", "attempts": 1, "wait": 0}
    # WHEN the second attempt fails too  THEN the 2000 s wait is chained: 900 s now, 1100 s left in the message
    assert service.handle(Event.parse(sent["MessageBody"])) == "pending"
    body = json.loads(sqs.sent[1]["MessageBody"])
    assert sqs.sent[1]["DelaySeconds"] == 900 and body["wait"] == 1100 and body["attempts"] == 2
    # WHEN that hop arrives  THEN nothing is sent to the receiver: the rest of the wait is queued (900, then 200)
    assert service.handle(Event.parse(sqs.sent[1]["MessageBody"])) == "waiting"
    assert sqs.sent[2]["DelaySeconds"] == 900 and json.loads(sqs.sent[2]["MessageBody"])["wait"] == 200
    assert service.handle(Event.parse(sqs.sent[2]["MessageBody"])) == "waiting"
    assert sqs.sent[3]["DelaySeconds"] == 200 and json.loads(sqs.sent[3]["MessageBody"])["wait"] == 0
    assert len(receiver.deliveries("/flaky")) == 2
    # WHEN the last attempt fails  THEN the webhook is failed and no more is queued
    assert service.handle(Event.parse(sqs.sent[3]["MessageBody"])) == "failed"
    assert tasks.get("Task000000000002")["wh_status"] == "failed" and len(sqs.sent) == 4
    # AND every attempt carried the same webhook-id
    assert {d.headers["webhook-id"] for d in receiver.deliveries("/flaky")} == {"msg_Task000000000002"}


def test_notifier_stops_on_410_and_does_not_follow_redirects(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    service, tasks, secrets, sqs = _stack(aws)
    _finished_task(tasks, secrets, "Task000000000003", receiver.plan("/gone", 410))
    _finished_task(tasks, secrets, "Task000000000004", receiver.plan("/moved", 302))
    # WHEN a receiver answers 410  THEN the webhook is failed at once, nothing queued
    assert service.handle(Event("Task000000000003", COMPLETED, "msg_Task000000000003")) == "failed"
    assert (tasks.get("Task000000000003")["wh_attempts"], sqs.sent) == (1, [])
    # WHEN a receiver answers 302  THEN it counts as a failed attempt (retried), and the Location is never fetched
    assert service.handle(Event("Task000000000004", COMPLETED, "msg_Task000000000004")) == "pending"
    assert tasks.get("Task000000000004")["wh_code"] == 302 and len(sqs.sent) == 1
    assert receiver.deliveries("/redirected") == []


def test_notifier_handles_a_duplicate_message_once(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    # GIVEN SQS delivers the same message twice (at least once)  WHEN both are handled  THEN one POST is made
    service, tasks, secrets, _ = _stack(aws)
    _finished_task(tasks, secrets, "Task000000000005", receiver.plan("/once", 200))
    event = Event("Task000000000005", COMPLETED, "msg_Task000000000005")
    assert service.handle(event) == "delivered"
    assert service.handle(event) == "duplicate"
    assert len(receiver.deliveries("/once")) == 1


def test_notifier_drops_the_event_of_an_expired_task_or_a_deleted_key(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    service, tasks, secrets, sqs = _stack(aws)
    assert service.handle(Event("Task00000000gone", COMPLETED, "msg_x")) == "dropped"
    _finished_task(tasks, secrets, "Task000000000006", receiver.plan("/orphan", 200))
    secrets.delete(OWNER)  # what deleting the key does
    assert service.handle(Event("Task000000000006", COMPLETED, "msg_Task000000000006")) == "dropped"
    assert receiver.deliveries("/orphan") == [] and sqs.sent == []
    assert tasks.get("Task000000000006")["wh_status"] == "failed"


def test_notifier_refuses_an_address_that_turned_private_dns_rebinding(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    # GIVEN a name that was public at submission and now resolves to a private address (a fake resolver: no lookup
    # leaves the machine, and nothing is ever sent to a private address)
    answers = {"hooks.example.com": ["10.0.0.7"]}
    connected: list[Any] = []
    service, tasks, secrets, sqs = _stack(aws, resolver=lambda host, port: connected.append(host) or answers[host])
    _finished_task(tasks, secrets, "Task000000000007", "http://hooks.example.com/hook")
    # WHEN it is delivered  THEN the guard refuses before connecting: the attempt fails and is retried later
    assert service.handle(Event("Task000000000007", COMPLETED, "msg_Task000000000007")) == "pending"
    task = tasks.get("Task000000000007")
    assert task["wh_attempts"] == 1 and "wh_code" not in task
    assert connected == ["hooks.example.com"]


def test_sender_checks_every_address_before_connecting() -> None:
    # An address list with one private entry is refused whole, as for media URLs; loopback only when allowed.
    mixed = Sender(allow_private=False, resolver=lambda h, p: ["93.184.215.14", "127.0.0.1"])
    with pytest.raises(DeliveryError, match="non-public"):
        mixed.post("http://mixed.example/hook", b"{}", {})
    with pytest.raises(DeliveryError, match="Only http and https"):
        Sender(allow_private=True).post("ftp://127.0.0.1/hook", b"{}", {})


def test_sender_times_out_on_a_silent_receiver() -> None:
    # GIVEN a loopback socket that accepts and never answers  WHEN posting with a short timeout  THEN no answer
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(DeliveryError, match="timeout|TimeoutError"):
            Sender(allow_private=True, timeout=0.5).post(f"http://127.0.0.1:{port}/", b"{}", {})


def test_lambda_handler_reports_failed_messages_for_a_retry(aws: DeployedStack, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a batch with a good event, a malformed message and one whose handling raises
    service, tasks, secrets, _ = _stack(aws)
    _finished_task(tasks, secrets, "Task000000000008", receiver.plan("/batch", 200))

    class Boom(Exception):
        pass

    def handle(event: Event) -> str:
        if event.task_id == "Task00000000boom":
            raise Boom("task store down")
        return NotifyService.handle(service, event)

    monkeypatch.setattr(service, "handle", handle)
    monkeypatch.setattr("functions.notify.handler._service", lambda: service)
    records = [
        {"messageId": "m1", "body": json.dumps({"task_id": "Task000000000008", "type": COMPLETED, "webhook_id": "msg_Task000000000008"})},
        {"messageId": "m2", "body": "not json"},
        {"messageId": "m3", "body": json.dumps({"task_id": "Task00000000boom", "type": COMPLETED, "webhook_id": "msg_b"})},
    ]
    # WHEN the Lambda handler gets it  THEN only the failing one is handed back to SQS
    assert lambda_handler({"Records": records}, None) == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    assert len(receiver.deliveries("/batch")) == 1
    assert handle_all(service, []) == []


def test_notify_queue_round_trip_in_the_deployed_queue(aws: DeployedStack) -> None:
    # GIVEN template.yaml's notify queue  WHEN an event is announced  THEN the notifier receives it back
    queue = NotifyQueue(aws.clients.sqs, aws.settings.notify_queue_url)
    queue.announce("Task000000000009", FAILED)
    (received,) = queue.receive(10, wait_seconds=1)
    assert received.event == Event("Task000000000009", FAILED, "msg_Task000000000009")
    queue.delete(received.receipt_handle)
    assert queue.receive(10, wait_seconds=0) == []


def test_a_local_restart_requeues_the_pending_webhooks_of_finished_tasks(aws: DeployedStack, receiver: WebhookReceiver) -> None:
    # GIVEN the local stack's notify queue is in memory, and finished tasks whose webhooks are pending, done or absent
    from infra.local import LocalStack

    service, tasks, secrets, _ = _stack(aws)
    _finished_task(tasks, secrets, "Task00000000pend", receiver.plan("/after-restart", 200), completed=False)
    _finished_task(tasks, secrets, "Task00000000done", receiver.plan("/done-before", 200))
    service.handle(Event("Task00000000done", COMPLETED, "msg_Task00000000done"))
    tasks.create("Task00000000none", OWNER, "get_info", "http://127.0.0.1:1/v", {})
    tasks.complete("Task00000000none", "info.json", 600)
    tasks.create("Task00000000wait", OWNER, "get_info", "http://127.0.0.1:1/v", {}, webhook_url=receiver.url("/unfinished"))
    # WHEN the stack starts  THEN the next attempt of the pending one only is queued, with its own webhook-id
    LocalStack._requeue_webhooks(LocalStack.__new__(LocalStack), tasks, aws.clients, aws.settings)
    queue = NotifyQueue(aws.clients.sqs, aws.settings.notify_queue_url)
    assert [r.event for r in queue.receive(10, wait_seconds=1)] == [Event("Task00000000pend", FAILED, "msg_Task00000000pend")]


def test_sender_posts_to_the_path_and_query_of_the_url(receiver: WebhookReceiver) -> None:
    # GIVEN a URL with a query (a receiver's token) and a fragment  WHEN posted  THEN path and query arrive, no fragment
    receiver.plan("/in", 204)
    assert Sender(allow_private=True).post(receiver.url("/in?token=abc#frag"), b"{}", {"webhook-id": "msg_1"}) == 204
    (delivery,) = receiver.deliveries("/in")
    assert delivery.path == "/in?token=abc" and delivery.headers["webhook-id"] == "msg_1"
    assert delivery.headers["content-type"] == "application/json" and delivery.body == b"{}"
