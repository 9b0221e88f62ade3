"""Webhooks end to end: the local stack (API, worker, notifier process, queues) posting to a loopback receiver that
verifies every delivery with the standardwebhooks library and the key's secret. WEBHOOK_RETRY_DELAYS is 1,1,1."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from tests.e2e.conftest import Client
from tests.support.media import probe
from tests.support.stack import request
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _secret(client: Client, key: str) -> str:
    status, _, body = client.call("GET", "/webhook_secret", key=key)
    assert status == 200
    return body["secret"]


def _webhook_state(client: Client, task_id: str, key: str, until: str, timeout: float = 60) -> dict[str, Any]:
    """The task's webhook state once it is `until` (the notifier records it just after the receiver answers)."""
    deadline = time.monotonic() + timeout
    while True:
        _, _, task = client.call("GET", f"/status/{task_id}", key=key)
        if task["webhook"]["status"] == until or time.monotonic() > deadline:
            return task["webhook"]
        time.sleep(0.2)


def test_webhook_task_completed_is_signed_and_its_download_url_is_the_media(client: Client, media_urls, receiver: WebhookReceiver, tmp_path):
    key = client.new_key()
    secret = _secret(client, key)
    task_id = client.submit("get_video", {"url": media_urls["mp4"], "webhook_url": receiver.plan("/done", 200)}, key)
    task = client.wait(task_id, key)
    assert task["status"] == "completed"
    # THEN one delivery, verified with the key's secret, for this task
    (delivery,) = receiver.wait_for("/done")
    payload = delivery.verify(secret)
    assert payload["type"] == "task.completed" and payload["timestamp"] == task["completed_time"]
    data = payload["data"]
    assert data["task_id"] == task_id and data["status"] == "completed" and data["file"] == task["file"]
    # AND its download_url is the file itself (presigned, no key)
    status, _, media = request("GET", data["download_url"])
    assert status == 200
    (tmp_path / "video.mp4").write_bytes(media)
    info = probe(tmp_path / "video.mp4")
    assert info["video"]["height"] == 360 and info["audio"] is not None and abs(info["duration"] - 60) < 1
    # AND /status says delivered after one attempt
    assert _webhook_state(client, task_id, key, "delivered") == {"status": "delivered", "attempts": 1, "last_status_code": 200}
    time.sleep(1.5)
    assert len(receiver.deliveries("/done")) == 1  # exactly one per completed task


def test_webhook_task_failed_for_a_media_url_that_answers_404(client: Client, media_server, receiver: WebhookReceiver):
    key = client.new_key()
    secret = _secret(client, key)
    task_id = client.submit("get_video", {"url": media_server.url("no-such-file.mp4"), "webhook_url": receiver.plan("/failed", 200)}, key)
    task = client.wait(task_id, key)
    assert task["status"] == "error"
    payload = receiver.wait_for("/failed")[0].verify(secret)
    assert payload["type"] == "task.failed" and payload["data"]["task_id"] == task_id
    assert payload["data"]["status"] == "error" and payload["data"]["error"] == task["error"] and "download_url" not in payload["data"]


def test_webhook_retries_500s_with_one_webhook_id_until_delivered(client: Client, media_urls, receiver: WebhookReceiver):
    key = client.new_key()
    secret = _secret(client, key)
    url = receiver.plan("/flaky", 500, 500, 200)
    task_id = client.submit("get_info", {"url": media_urls["mp4"], "webhook_url": url}, key)
    client.wait(task_id, key)
    deliveries = receiver.wait_for("/flaky", 3)
    # THEN three attempts of one event (same webhook-id), each verifiable, and the status shows it delivered
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    assert all(d.verify(secret)["data"]["task_id"] == task_id for d in deliveries)
    assert _webhook_state(client, task_id, key, "delivered") == {"status": "delivered", "attempts": 3, "last_status_code": 200}


def test_webhook_410_stops_the_retries(client: Client, media_urls, receiver: WebhookReceiver):
    key = client.new_key()
    task_id = client.submit("get_info", {"url": media_urls["mp4"], "webhook_url": receiver.plan("/gone", 410)}, key)
    client.wait(task_id, key)
    receiver.wait_for("/gone")
    assert _webhook_state(client, task_id, key, "failed") == {"status": "failed", "attempts": 1, "last_status_code": 410}
    time.sleep(3)  # three retry delays' worth: none comes
    assert len(receiver.deliveries("/gone")) == 1


def test_webhook_redirect_is_a_failure_and_is_not_followed(client: Client, media_urls, receiver: WebhookReceiver):
    key = client.new_key()
    task_id = client.submit("get_info", {"url": media_urls["mp4"], "webhook_url": receiver.plan("/moved", 302)}, key)
    client.wait(task_id, key)
    receiver.wait_for("/moved", 4)  # the first attempt and three retries
    assert _webhook_state(client, task_id, key, "failed") == {"status": "failed", "attempts": 4, "last_status_code": 302}
    assert receiver.deliveries("/redirected") == []


def test_webhook_after_a_rotation_verifies_with_the_old_and_the_new_secret(client: Client, media_urls, receiver: WebhookReceiver):
    key = client.new_key()
    old = _secret(client, key)
    status, _, rotated = client.call("POST", "/webhook_secret", key=key)
    assert status == 200 and rotated["secret"] != old
    task_id = client.submit("get_info", {"url": media_urls["mp4"], "webhook_url": receiver.plan("/rotated", 200)}, key)
    client.wait(task_id, key)
    (delivery,) = receiver.wait_for("/rotated")
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, rotated["secret"]):
        assert delivery.verify(secret)["data"]["task_id"] == task_id


def test_webhook_is_sent_for_a_task_served_from_a_shared_result(client: Client, media_urls, receiver: WebhookReceiver, tmp_path):
    # GIVEN a clip another key has downloaded already
    other = client.new_key()
    body = {"url": media_urls["mp4"], "start_time": 2, "end_time": 5}
    assert client.wait(client.submit("get_video", body, other), other)["status"] == "completed"
    # WHEN a key asks for the same clip with a webhook_url
    key = client.new_key()
    secret = _secret(client, key)
    task_id = client.submit("get_video", {**body, "webhook_url": receiver.plan("/cached", 200)}, key)
    task = client.wait(task_id, key)
    assert task["status"] == "completed" and task["cached"] is True
    # THEN it still gets its signed task.completed, whose download_url is the clip
    (delivery,) = receiver.wait_for("/cached")
    data = delivery.verify(secret)["data"]
    assert data["task_id"] == task_id and data["cached"] is True
    status, _, media = request("GET", data["download_url"])
    assert status == 200
    (tmp_path / "clip.mp4").write_bytes(media)
    assert abs(probe(tmp_path / "clip.mp4")["duration"] - 3) < 1
    assert _webhook_state(client, task_id, key, "delivered")["status"] == "delivered"
