"""Webhooks through the API: webhook_url checked at submission, the key's secret read and rotated, the state in /status."""

from __future__ import annotations


import pytest
import standardwebhooks

from shared.stores.keys import hash_key
from shared.stores.notify_queue import NotifyQueue
from tests.support.api import fake_resolver
from tests.support.state import scan_all

MEDIA = "https://media.example.com/v.mp4"


def test_webhook_secret_is_made_once_rotated_and_private_to_its_key(api, aws) -> None:  # type: ignore[no-untyped-def]
    alice, bob = api.make_key("alice", ["get_video"]), api.make_key("bob", ["get_audio"])
    # WHEN a key reads its secret twice  THEN one whsec_ secret, not cached by anyone between
    first = api.client.get("/webhook_secret", headers=api.headers(alice))
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    secret = first.json()["secret"]
    assert secret.startswith("whsec_") and api.client.get("/webhook_secret", headers=api.headers(alice)).json() == {"secret": secret}
    standardwebhooks.Webhook(secret)  # the library takes it as it is
    # AND another key has its own
    assert api.client.get("/webhook_secret", headers=api.headers(bob)).json()["secret"] != secret
    # AND nothing at rest holds it in plain text
    assert secret.encode() not in repr(scan_all(aws, aws.settings.keys_table)).encode()
    # WHEN it rotates  THEN a new secret, which GET now returns
    rotated = api.client.post("/webhook_secret", headers=api.headers(alice)).json()["secret"]
    assert rotated != secret and api.client.get("/webhook_secret", headers=api.headers(alice)).json()["secret"] == rotated


def test_webhook_secret_needs_a_key_that_may_create_tasks(api) -> None:  # type: ignore[no-untyped-def]
    manager = api.make_key("manager", ["get_keys"])
    assert api.client.get("/webhook_secret").status_code == 401
    r = api.client.post("/webhook_secret", headers=api.headers(manager))
    assert r.status_code == 403 and r.json() == {"error": "Permission denied"}


def test_deleting_a_key_deletes_its_webhook_secrets(api, aws) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("leaving", ["get_video"])
    api.client.post("/webhook_secret", headers=api.headers(key))
    api.client.post("/webhook_secret", headers=api.headers(key))  # current + previous
    assert api.client.delete("/delete_key/leaving", headers=api.headers()).status_code == 200
    assert api.container.webhook_secrets.signing(hash_key(key)) == []
    assert not [i for i in scan_all(aws, aws.settings.keys_table) if i["pk"]["S"].startswith("whsec#")]


@pytest.mark.parametrize("endpoint", ["get_video", "get_audio", "get_info", "get_live_video", "get_live_audio"])
def test_every_task_body_takes_a_webhook_url_and_status_shows_its_state(api, endpoint) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("hooked", [endpoint])
    body = {"url": MEDIA, "webhook_url": "https://hooks.example.com/in?token=t"}
    if endpoint.startswith("get_live"):
        body["duration"] = 5
    # WHEN a task is submitted with a webhook_url  THEN /status shows its delivery as pending, no attempt yet
    r = api.client.post(f"/{endpoint}", json=body, headers=api.headers(key))
    assert r.status_code == 200, r.text
    status = api.client.get(f"/status/{r.json()['task_id']}", headers=api.headers(key)).json()
    assert status["webhook"] == {"status": "pending", "attempts": 0, "last_status_code": None}
    assert "webhook_url" not in status  # the URL may hold a token of the receiver's: not echoed
    # AND the key's signing secret exists from then on (the notifier signs with it)
    assert api.container.webhook_secrets.signing(hash_key(key))


def test_a_task_without_webhook_url_keeps_the_original_status_shape(api) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("plain", ["get_video"])
    task_id = api.client.post("/get_video", json={"url": MEDIA}, headers=api.headers(key)).json()["task_id"]
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert "webhook" not in status and "webhook_url" not in status


@pytest.mark.parametrize(
    ("webhook_url", "message"),
    [
        ("ftp://hooks.example.com/in", "webhook_url: Only http and https URLs are allowed"),
        ("http://10.1.2.3/in", "webhook_url: URL host '10.1.2.3' resolves to a non-public address"),
        ("http://inside.example.com/in", "webhook_url: URL host 'inside.example.com' resolves to a non-public address"),
        ("http://127.0.0.1:9/in", "webhook_url: URL host '127.0.0.1' resolves to a non-public address"),
        ("http://nowhere.invalid/in", "webhook_url: Could not resolve host"),
        ("http://hooks.example.com\\@10.0.0.1/in", "webhook_url: URL is not valid"),
        ("", "webhook_url"),
    ],
)
def test_a_refused_webhook_url_is_a_400_and_leaves_nothing(make_api, aws, webhook_url, message) -> None:  # type: ignore[no-untyped-def]
    # GIVEN private networks are not allowed, and a name that resolves inside (a fake resolver: no lookup leaves)
    api = make_api(resolver=fake_resolver({"inside.example.com": ["10.0.0.1"]}), request_limit=1)
    key = api.make_key("refused", ["get_video"])
    r = api.client.post("/get_video", json={"url": MEDIA, "webhook_url": webhook_url}, headers=api.headers(key))
    assert r.status_code == 400 and message in r.json()["error"], r.text
    # THEN no task exists and the refused request used no rate-limit slot
    assert scan_all(aws, aws.settings.tasks_table) == []
    assert api.client.post("/get_video", json={"url": MEDIA}, headers=api.headers(key)).status_code == 200


def test_webhook_url_on_loopback_is_accepted_when_private_networks_are(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(allow_private_networks=True)
    key = api.make_key("local", ["get_video"])
    r = api.client.post("/get_video", json={"url": "http://127.0.0.1:8/v.mp4", "webhook_url": "http://127.0.0.1:9/in"}, headers=api.headers(key))
    assert r.status_code == 200


def test_the_notify_queue_is_never_written_by_the_api(api, aws) -> None:  # type: ignore[no-untyped-def]
    # The API only stores the URL; the worker (or the cleanup) queues the event when the task ends.
    key = api.make_key("quiet", ["get_video"])
    api.client.post("/get_video", json={"url": MEDIA, "webhook_url": "https://hooks.example.com/in"}, headers=api.headers(key))
    assert NotifyQueue(aws.clients.sqs, aws.settings.notify_queue_url).receive(10, wait_seconds=0) == []
