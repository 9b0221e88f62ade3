"""Task submission and status through the API: defaults, validation, ownership, rate limit, queue failures."""

from __future__ import annotations

import json
import warnings
from unittest import mock

import pytest

from shared.errors import Unavailable
from shared.models import TASK_ID_PATTERN

ALL_TASKS = ["get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"]


def queued(aws) -> list[str]:
    messages = aws.clients.sqs.receive_message(QueueUrl=aws.settings.jobs_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"])["task_id"] for m in messages]


def test_get_video_accepts_queues_and_shows_defaults(api, aws):
    key = api.make_key("v", ["get_video"])
    r = api.client.post("/get_video", json={"url": "https://media.example.com/v"}, headers=api.headers(key))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "waiting" and TASK_ID_PATTERN.match(body["task_id"])
    assert queued(aws) == [body["task_id"]]
    status = api.client.get(f"/status/{body['task_id']}", headers=api.headers(key)).json()
    assert status["status"] == "waiting" and status["task_type"] == "get_video" and status["url"] == "https://media.example.com/v"
    assert status["video_format"] == "bestvideo" and status["audio_format"] == "bestaudio" and status["output_format"] == "mp4"
    assert status["force_keyframes"] is False and "owner" not in status


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(30, 60, (30, 60)), ("30", "60.5", (30, 60.5)), ("01:30", "00:02:00", (90, 120)), (None, "1:00:00", (None, 3600))],
)
def test_clip_times_accept_seconds_and_clock_forms(api, start, end, expected):
    key = api.make_key("c", ["get_audio"])
    body = {"url": "https://media.example.com/a", "start_time": start, "end_time": end}
    task_id = api.client.post("/get_audio", json=body, headers=api.headers(key)).json()["task_id"]
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert (status.get("start_time"), status.get("end_time")) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://m.example.com/x", "start_time": 60, "end_time": 30},
        {"url": "https://m.example.com/x", "start_time": "abc"},
        {"url": "https://m.example.com/x", "start_time": -5},
        {"url": "https://m.example.com/x", "output_format": "exe"},
        {"url": "ftp://m.example.com/x"},
        {"url": "file:///etc/passwd"},
        {"url": ""},
        {"url": "https://" + "a" * 3000 + ".example.com/"},
        {},
        {"url": 5},
    ],
)
def test_bad_submissions_are_400_and_queue_nothing(api, aws, body):
    key = api.make_key("bad", ["get_video"])
    r = api.client.post("/get_video", json=body, headers=api.headers(key))
    assert r.status_code == 400 and set(r.json()) == {"error"}
    assert queued(aws) == []


def test_non_object_and_broken_json_bodies_are_400(api):
    for raw in (b"{not json", b"[1, 2]", b'"a string"', b"null", b""):
        r = api.client.post("/get_info", content=raw, headers={**api.headers(), "Content-Type": "application/json"})
        assert r.status_code == 400 and "error" in r.json(), raw


def test_live_requires_a_positive_duration(api):
    key = api.make_key("live", ["get_live_video", "get_live_audio"])
    for body in ({"url": "https://m.example.com/l"}, {"url": "https://m.example.com/l", "duration": 0}, {"url": "https://m.example.com/l", "duration": -3}):
        assert api.client.post("/get_live_video", json=body, headers=api.headers(key)).status_code == 400
    r = api.client.post("/get_live_audio", json={"url": "https://m.example.com/l", "duration": 6, "start": 10}, headers=api.headers(key))
    assert r.status_code == 200


def test_every_task_endpoint_needs_its_own_permission(api):
    key = api.make_key("info-only", ["get_info"])
    bodies = {"get_live_video": {"duration": 5}, "get_live_audio": {"duration": 5}}
    for name in ALL_TASKS:
        r = api.client.post(f"/{name}", json={"url": "https://m.example.com/x", **bodies.get(name, {})}, headers=api.headers(key))
        assert r.status_code == (200 if name == "get_info" else 403), name


def test_status_is_private_to_the_creating_key(api):
    owner = api.make_key("owner", ["get_info"])
    other = api.make_key("other", ["get_info"])
    task_id = api.client.post("/get_info", json={"url": "https://m.example.com/x"}, headers=api.headers(owner)).json()["task_id"]
    assert api.client.get(f"/status/{task_id}", headers=api.headers(owner)).status_code == 200
    for key in (other, api.admin_key):
        r = api.client.get(f"/status/{task_id}", headers=api.headers(key))
        assert r.status_code == 404 and r.json() == {"error": "Task not found"}
    assert api.client.get("/status/AAAAAAAAAAAAAAAA", headers=api.headers(owner)).status_code == 404
    assert api.client.get(f"/status/{task_id}").status_code == 401


def test_private_network_urls_are_refused_unless_allowed(make_api, aws):
    from tests.support.api import fake_resolver

    resolver = fake_resolver({"rebind.example.com": ["93.184.215.14", "10.0.0.7"], "meta.example.com": ["169.254.169.254"]})
    api = make_api(resolver=resolver)
    key = api.make_key("ssrf", ["get_video"])
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data/", "http://meta.example.com/", "http://rebind.example.com/", "http://10.1.2.3/", "http://nowhere.invalid/"):
        r = api.client.post("/get_video", json={"url": url}, headers=api.headers(key))
        assert r.status_code == 400, url
    assert queued(aws) == []
    allowed = make_api(resolver=resolver, allow_private_networks=True)
    r = allowed.client.post("/get_video", json={"url": "http://127.0.0.1:8080/x"}, headers=allowed.headers(key))
    assert r.status_code == 200


def test_rate_limit_counts_only_task_submissions(make_api):
    api = make_api(request_limit=3)
    key = api.make_key("limited", ["get_info", "get_keys"])
    for _ in range(3):
        assert api.client.post("/get_info", json={"url": "https://m.example.com/x"}, headers=api.headers(key)).status_code == 200
        api.client.get("/status/AAAAAAAAAAAAAAAA", headers=api.headers(key))
        api.client.get("/get_keys", headers=api.headers(key))
    r = api.client.post("/get_info", json={"url": "https://m.example.com/x"}, headers=api.headers(key))
    assert r.status_code == 429 and "error" in r.json()
    assert 590 <= int(r.headers["Retry-After"]) <= 600
    # Another key has its own budget.
    assert api.client.post("/get_info", json={"url": "https://m.example.com/x"}, headers=api.headers()).status_code == 200


def test_queue_failure_is_503_and_leaves_no_task(api, aws):
    key = api.make_key("q", ["get_info"])
    with mock.patch("shared.stores.queue.JobQueue.send", side_effect=Unavailable("The job queue is unavailable, try again later")):
        r = api.client.post("/get_info", json={"url": "https://m.example.com/x"}, headers=api.headers(key))
    assert r.status_code == 503 and r.json() == {"error": "The job queue is unavailable, try again later"}
    assert aws.clients.dynamodb.scan(TableName=aws.settings.tasks_table)["Items"] == []


def test_unknown_routes_and_methods_are_json(api):
    r = api.client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = api.client.get("/get_video", headers=api.headers())
    assert r.status_code == 405 and "error" in r.json()


def test_oversized_body_is_413(api):
    r = api.client.post("/get_info", content=b'{"url": "' + b"a" * 70000 + b'"}', headers={**api.headers(), "Content-Type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_health_needs_no_key_and_openapi_documents_the_key_header(api):
    assert api.client.get("/health").json() == {"status": "ok", "workers": 0, "versions": None}
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Your API key."}
    assert api.client.get("/docs").status_code == 200


def test_openapi_gives_every_operation_its_own_id(api):
    # GIVEN the app's schema (GET and HEAD share the /files routes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns "Duplicate Operation ID" when two operations share one
        spec = api.client.get("/openapi.json").json()
    # THEN every operation, HEAD ones included, has an id no other operation uses
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"get", "head"} <= set(spec["paths"]["/files/{task_id}/{name}"])
