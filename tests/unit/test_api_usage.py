"""RateLimit headers, per-key request limits and GET /usage through the API (moto), and the totals the worker and
the cleanup add when tasks finish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.cleanup.handler import build_service
from functions.worker.jobs.scratch import Scratch
from functions.worker.service import JobService, Outcome
from shared.stores.usage import UsageStore
from tests.unit.test_worker_service import FakeLauncher, FakeQueue, FakeTasks, job, settings

URL = "https://media.example.com/v"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def submit(api: Any, key: str, task: str = "get_info") -> Any:
    return api.client.post(f"/{task}", json={"url": URL}, headers=api.headers(key))


def test_ratelimit_headers_count_down_to_zero_and_the_429_carries_them(make_api):
    # GIVEN REQUEST_LIMIT 3 in a 10-minute window
    api = make_api(request_limit=3)
    key = api.make_key("counted", ["get_info", "get_video"])
    # WHEN the key submits four tasks of any kind
    answers = [submit(api, key, task) for task in ("get_info", "get_video", "get_info", "get_video")]
    # THEN each accepted answer says what is left, down to 0
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["RateLimit-Limit"] == "3" and r.headers["RateLimit-Policy"] == "3;w=600" for r in answers)
    assert all(590 <= int(r.headers["RateLimit-Reset"]) <= 600 for r in answers)
    # AND the 429 keeps Retry-After, equal to the reset, and its {"error"} body
    refused = answers[-1]
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"] and set(refused.json()) == {"error"}


def test_ratelimit_headers_only_on_task_creating_answers(api):
    key = api.make_key("reader", ["get_info"])
    task_id = submit(api, key).json()["task_id"]
    for r in (api.client.get(f"/status/{task_id}", headers=api.headers(key)), api.client.get("/usage", headers=api.headers(key))):
        assert r.status_code == 200 and not any(h in r.headers for h in HEADERS)
    # A refused body takes no slot and carries no standing.
    bad = api.client.post("/get_info", json={"url": "ftp://x"}, headers=api.headers(key))
    assert bad.status_code == 400 and "RateLimit-Remaining" not in bad.headers


def test_key_with_its_own_request_limit_gets_429_on_its_third_task(api):
    # GIVEN a key created with request_limit 2 while REQUEST_LIMIT is 20
    r = api.client.post("/create_key", json={"name": "small", "permissions": ["get_info"], "request_limit": 2}, headers=api.headers())
    assert r.status_code == 201
    key = r.json()["key"]
    # WHEN it submits three tasks THEN the third is refused, and the headers show its own limit
    answers = [submit(api, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "2" and answers[0].headers["RateLimit-Policy"] == "2;w=600"
    # AND get_key / get_keys show it; a key without one shows none (the original's fields only)
    assert api.client.get("/get_key/small", headers=api.headers()).json()["request_limit"] == 2
    listing = api.client.get("/get_keys", headers=api.headers()).json()
    assert listing["small"]["request_limit"] == 2 and "request_limit" not in listing["admin"]
    # AND other keys keep REQUEST_LIMIT
    assert submit(api, api.admin_key).headers["RateLimit-Limit"] == "20"


@pytest.mark.parametrize("value", [0, -1, 1_000_001, "two", 2.5, True])
def test_create_key_refuses_a_bad_request_limit(api, value):
    r = api.client.post("/create_key", json={"name": "bad", "permissions": ["get_info"], "request_limit": value}, headers=api.headers())
    assert r.status_code == 400 and "request_limit" in r.json()["error"]
    assert api.client.get("/get_key/bad", headers=api.headers()).status_code == 404


def test_usage_shows_the_standing_and_totals_moving_with_each_task(make_api):
    # GIVEN a fresh key under REQUEST_LIMIT 5
    api = make_api(request_limit=5)
    key = api.make_key("user", ["get_info"])
    fresh = api.client.get("/usage", headers=api.headers(key))
    assert fresh.status_code == 200
    assert fresh.json() == {
        "name": "user", "window_seconds": 600, "limit": 5, "used": 0, "remaining": 5, "reset": 600,
        "totals": {"tasks": 0, "completed": 0, "failed": 0, "cached": 0, "bytes": 0},
    }
    # WHEN it submits two tasks (and one refused body)
    submit(api, key), submit(api, key)
    api.client.post("/get_info", json={"url": ""}, headers=api.headers(key))
    # THEN both count in the window and in the totals
    usage = api.client.get("/usage", headers=api.headers(key)).json()
    assert (usage["used"], usage["remaining"], usage["totals"]["tasks"]) == (2, 3, 2)
    assert 590 <= usage["reset"] <= 600


def test_usage_of_another_key_needs_get_keys(api):
    user = api.make_key("someone", ["get_info"])
    submit(api, user)
    # The admin (get_keys) reads any key's usage by name; 404 for a name that does not exist
    other = api.client.get("/usage/someone", headers=api.headers())
    assert other.status_code == 200 and other.json()["name"] == "someone" and other.json()["totals"]["tasks"] == 1
    assert api.client.get("/usage/nobody", headers=api.headers()).json() == {"error": "API key 'nobody' not found"}
    # A key without get_keys may read only its own
    r = api.client.get("/usage/admin", headers=api.headers(user))
    assert r.status_code == 403 and r.json() == {"error": "Permission denied"}
    assert api.client.get("/usage").status_code == 401


def test_deleting_a_key_deletes_its_totals(api, aws):
    key = api.make_key("gone", ["get_info"])
    submit(api, key)
    owner = api.container.keys.authenticate(key).key_hash
    assert UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals(owner)["tasks"] == 1
    assert api.client.delete("/delete_key/gone", headers=api.headers()).status_code == 200
    assert UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals(owner)["tasks"] == 0


def worker(aws: Any, tmp_path: Path, tasks: FakeTasks, launcher: FakeLauncher) -> JobService:
    usage = UsageStore(aws.clients.dynamodb, aws.settings.usage_table)
    return JobService(settings(), tasks, FakeQueue(), launcher, Scratch.open(tmp_path / str(len(list(tmp_path.iterdir()))), "w"), "worker-a", sleep=lambda s: None, usage=usage)  # type: ignore[arg-type]


def test_worker_adds_completed_tasks_and_their_bytes_once(aws, tmp_path):
    # GIVEN a task of key digest "k1" whose job produces 1234 bytes
    tasks = FakeTasks(owner="k1")
    launcher = FakeLauncher({"status": "completed", "file_name": "video.mp4", "bytes": 1234})
    # WHEN the worker completes it THEN the key's totals show one completion and its bytes
    assert worker(aws, tmp_path, tasks, launcher).process(job()) is Outcome.COMPLETED
    usage = UsageStore(aws.clients.dynamodb, aws.settings.usage_table)
    assert usage.totals("k1") == {"tasks": 0, "completed": 1, "failed": 0, "cached": 0, "bytes": 1234}
    # AND a holder whose completion the store refused (someone else finished it) adds nothing
    tasks.complete = lambda *a, **k: False  # type: ignore[method-assign]
    worker(aws, tmp_path, tasks, launcher).process(job(message_id="m2"))
    assert usage.totals("k1")["completed"] == 1


def test_worker_and_cleanup_add_failed_tasks(aws, tmp_path):
    launcher = FakeLauncher({"status": "failed", "permanent": True, "error": "HTTP Error 404: Not Found"})
    assert worker(aws, tmp_path, FakeTasks(owner="k2"), launcher).process(job()) is Outcome.FAILED
    # A task whose job was lost is failed by the cleanup, and counted too
    store = build_service(aws.settings, aws.clients)._tasks
    store.create("L" * 16, "k2", "get_info", URL, {}, waiting_seconds=60)
    report = build_service(aws.settings, aws.clients).run(now=10**10)
    assert report.waiting_tasks_failed == 1
    assert UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals("k2")["failed"] == 2
