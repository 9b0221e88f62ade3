"""Shared results: the cache key (pure), and single flight over the results table (moto)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.worker.jobs.scratch import Scratch
from functions.worker.service import JobService, Outcome
from functions.worker.sharing import MAX_POLL, MIN_POLL, Decision, Verdict, WorkerSharing
from shared.sharing import normalise_url, result_key, scope_for, shareable
from shared.stores.results import DONE, RUNNING, ResultStore
from shared.stores.tasks import TaskStore
from tests.unit.test_worker_service import FakeLauncher, FakeQueue, FakeTasks, job, settings

PARAMS = {"video_format": "bestvideo", "audio_format": "bestaudio", "output_format": "mp4", "start_time": None, "end_time": None}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://Example.COM/watch?v=1", "https://example.com/watch?v=1"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a#t=30", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1&b=1", "https://example.com/a?a=1&b=2&b=1"),
        ("http://[::1]:9000/x", "http://[::1]:9000/x"),
    ],
)
def test_normalise_url_drops_what_does_not_change_the_download(given, expected):
    assert normalise_url(given) == expected


def test_result_key_same_request_same_key():
    # GIVEN the same request spelled two ways THEN one key; the order of parameters does not matter either
    a = result_key("get_video", "https://Example.com/v?x=1#frag", PARAMS)
    b = result_key("get_video", "https://example.com:443/v?x=1", dict(reversed(list(PARAMS.items()))))
    assert a == b and len(a) == 64


def test_result_key_neutral_params_do_not_split_the_cache():
    assert result_key("get_video", "https://e.com/v", {**PARAMS, "cache": False, "webhook_url": "https://h"}) == result_key("get_video", "https://e.com/v", PARAMS)


@pytest.mark.parametrize(
    "change",
    [
        {"task_type": "get_audio"},
        {"url": "https://e.com/other"},
        {"params": {**PARAMS, "start_time": 5}},
        {"params": {**PARAMS, "output_format": "mkv"}},
        {"params": {**PARAMS, "video_format": "worst"}},
        {"scope": "key-hash"},
    ],
)
def test_result_key_output_changing_differences_split_the_cache(change):
    base = {"task_type": "get_video", "url": "https://e.com/v", "params": PARAMS, "scope": ""}
    assert result_key(**base) != result_key(**{**base, **change})


def test_shareable_never_for_live_recordings_off_or_opted_out():
    assert shareable("global", "get_video", True) and shareable("key", "get_info", True)
    assert not shareable("global", "get_live_video", True) and not shareable("global", "get_live_audio", True)
    assert not shareable("off", "get_video", True) and not shareable("global", "get_video", False)


def test_scope_for_key_mode_and_own_cookies():
    assert scope_for("global", "k", False) == ""
    assert scope_for("global", "k", True) == "k"
    assert scope_for("key", "k", False) == "k"


# -- against moto


def _task(tasks: TaskStore, task_id: str, key: str) -> dict:
    return tasks.create(task_id, "owner-hash", "get_video", "https://e.com/v", PARAMS, waiting_seconds=86400, result_key=key)


@pytest.fixture
def stores(aws):
    results = ResultStore(aws.clients.dynamodb, aws.settings.results_table)
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    return results, tasks, WorkerSharing(results, tasks, ttl_seconds=600, waiting_seconds=86400)


def test_sharing_one_owner_among_concurrent_tasks(stores):
    # GIVEN eight tasks with one result key WHEN they resolve at once THEN exactly one runs, the others wait
    results, tasks, sharing = stores
    ids = [f"task{i:012d}" for i in range(8)]
    for task_id in ids:
        _task(tasks, task_id, "k1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(lambda t: sharing.resolve(tasks.get(t)).verdict, ids))
    assert verdicts.count(Verdict.RUN) == 1 and verdicts.count(Verdict.WAIT) == 7
    item = results.get("k1")
    assert item["state"] == RUNNING and set(item["waiters"]) == set(ids) - {item["owner_task"]}


def test_sharing_publish_completes_the_waiters_and_later_tasks_are_served(stores):
    results, tasks, sharing = stores
    for task_id in ("ownertask0000001", "waitertask000001"):
        _task(tasks, task_id, "k2")
    assert sharing.resolve(tasks.get("ownertask0000001")).verdict is Verdict.RUN
    assert sharing.resolve(tasks.get("waitertask000001")).verdict is Verdict.WAIT
    # WHEN the owner completes and publishes
    tasks.complete("ownertask0000001", "video.mp4", 600)
    assert sharing.publish("k2", "ownertask0000001", "video.mp4") == 1
    # THEN the waiter is completed from the owner's object, and a later task is served at once
    waiter = tasks.get("waitertask000001")
    assert waiter["status"] == "completed" and waiter["cached"] is True and waiter["object_task"] == "ownertask0000001"
    _task(tasks, "latertask0000001", "k2")
    assert sharing.resolve(tasks.get("latertask0000001")).verdict is Verdict.SERVED
    later = tasks.get("latertask0000001")
    assert later["status"] == "completed" and later["file_name"] == "video.mp4"
    # AND the result lives at least as long as every task pointing at it
    assert results.get("k2")["expires_at"] >= max(t["expires_at"] for t in (waiter, later, tasks.get("ownertask0000001")))


def test_sharing_a_waiter_takes_over_from_a_failed_owner(stores):
    results, tasks, sharing = stores
    for task_id in ("ownertask0000002", "waitertask000002", "waitertask000003"):
        _task(tasks, task_id, "k3")
    assert sharing.resolve(tasks.get("ownertask0000002")).verdict is Verdict.RUN
    assert sharing.resolve(tasks.get("waitertask000002")).verdict is Verdict.WAIT
    # WHEN the owner fails without releasing the result (e.g. the cleanup failed its lost job)
    tasks.fail("ownertask0000002", "HTTP Error 404", 600)
    # THEN the next waiter to look takes it over, and the other waits for that one
    assert sharing.resolve(tasks.get("waitertask000002")).verdict is Verdict.RUN
    assert results.get("k3")["owner_task"] == "waitertask000002"
    assert sharing.resolve(tasks.get("waitertask000003")).verdict is Verdict.WAIT


def test_sharing_release_lets_a_waiter_claim_anew(stores):
    results, tasks, sharing = stores
    for task_id in ("ownertask0000004", "waitertask000004"):
        _task(tasks, task_id, "k4")
    sharing.resolve(tasks.get("ownertask0000004"))
    sharing.release("k4", "ownertask0000004")
    assert results.get("k4") is None
    assert sharing.resolve(tasks.get("waitertask000004")).verdict is Verdict.RUN


def test_sharing_wait_delay_grows_with_the_wait_within_bounds(stores):
    _, tasks, sharing = stores
    _task(tasks, "ownertask0000005", "k5")
    sharing.resolve(tasks.get("ownertask0000005"))
    fresh = {**_task(tasks, "waitertask000005", "k5")}
    assert sharing.resolve(fresh).delay == MIN_POLL
    assert sharing.resolve({**fresh, "created_at": time.time() - 3600}).delay == MAX_POLL


def test_results_join_refuses_an_expired_result(stores):
    results, _, _ = stores
    now = time.time()
    assert results.claim("k6", "ownertask0000006", now + 60)
    assert results.publish("k6", "ownertask0000006", "video.mp4", now - 1) == []
    assert results.get("k6")["state"] == DONE
    assert not results.join("k6", "ownertask0000006", now + 600, now=now)
    # AND the cleanup's conditional delete takes it (a joined one it would leave)
    assert results.expired(now=now) == ["k6"]
    assert results.remove_expired("k6", now)["object_task"] == "ownertask0000006"


# -- the worker's JobService with in-memory fakes (tests/unit/test_worker_service.py)


class FakeSharing:
    def __init__(self, verdict: Verdict, delay: int = 0) -> None:
        self.decision = Decision(verdict, "test", delay)
        self.calls: list[tuple[str, ...]] = []

    def resolve(self, task: dict) -> Decision:
        self.calls.append(("resolve", task["task_id"]))
        return self.decision

    def publish(self, key: str, task_id: str, file_name: str) -> int:
        self.calls.append(("publish", key, file_name))
        return 0

    def release(self, key: str, task_id: str) -> None:
        self.calls.append(("release", key))


def _job_service(scratch, tasks, queue, launcher, sharing):
    return JobService(settings(), tasks, queue, launcher, scratch, "worker-a", sleep=lambda s: None, sharing=sharing)


@pytest.fixture
def fakes(tmp_path):
    return Scratch.open(tmp_path, "test"), FakeTasks(result_key="k"), FakeQueue()


def test_worker_service_waiter_is_put_off_without_a_claim_or_an_attempt(fakes):
    scratch, tasks, queue = fakes
    launcher, sharing = FakeLauncher(), FakeSharing(Verdict.WAIT, delay=7)
    assert _job_service(scratch, tasks, queue, launcher, sharing).process(job()) is Outcome.WAITING
    assert tasks.calls == [] and launcher.started == []
    assert queue.calls == [("put_off", "m1", 7)]


def test_worker_service_served_task_deletes_its_message_without_a_download(fakes):
    scratch, tasks, queue = fakes
    launcher = FakeLauncher()
    assert _job_service(scratch, tasks, queue, launcher, FakeSharing(Verdict.SERVED)).process(job()) is Outcome.SERVED
    assert launcher.started == [] and queue.calls == [("delete", "m1")]


def test_worker_service_owner_publishes_after_completing(fakes):
    scratch, tasks, queue = fakes
    sharing = FakeSharing(Verdict.RUN)
    assert _job_service(scratch, tasks, queue, FakeLauncher(), sharing).process(job()) is Outcome.COMPLETED
    assert tasks.calls[-1] == ("complete", "video.mp4")
    assert sharing.calls[-1] == ("publish", "k", "video.mp4")


def test_worker_service_live_recording_is_not_published(fakes):
    scratch, tasks, queue = fakes
    sharing = FakeSharing(Verdict.RUN)
    launcher = FakeLauncher({"status": "completed", "file_name": "video.mp4", "live": True})
    _job_service(scratch, tasks, queue, launcher, sharing).process(job())
    assert ("publish", "k", "video.mp4") not in sharing.calls and sharing.calls[-1] == ("release", "k")


def test_worker_service_failed_owner_releases_the_result(fakes):
    scratch, tasks, queue = fakes
    sharing = FakeSharing(Verdict.RUN)
    launcher = FakeLauncher({"status": "failed", "permanent": True, "error": "HTTP Error 404: Not Found"})
    assert _job_service(scratch, tasks, queue, launcher, sharing).process(job()) is Outcome.FAILED
    assert sharing.calls[-1] == ("release", "k")


# -- the API over moto: a done result completes a request at once, consistently in every answer


def _download_once(api, aws, key: str, url: str) -> str:
    """What the worker does for the first request: own the result, store the object, complete, publish."""
    task_id = api.client.post("/get_video", json={"url": url}, headers=api.headers(key)).json()["task_id"]
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    sharing = WorkerSharing(ResultStore(aws.clients.dynamodb, aws.settings.results_table), tasks, 600, 86400)
    assert sharing.resolve(tasks.get(task_id)).verdict is Verdict.RUN
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=f"tasks/{task_id}/video.mp4", Body=b"\x00" * 1024)
    tasks.complete(task_id, "video.mp4", 600)
    sharing.publish(tasks.get(task_id)["result_key"], task_id, "video.mp4")
    return task_id


def test_api_cache_hit_answers_completed_everywhere(api, aws):
    # GIVEN a result downloaded for one key
    first_key, second_key = api.make_key("first", ["get_video"]), api.make_key("second", ["get_video"])
    first = _download_once(api, aws, first_key, "https://media.example.com/v?b=2&a=1")
    # WHEN another key asks for the same media (query in another order)
    r = api.client.post("/get_video", json={"url": "https://media.example.com/v?a=1&b=2"}, headers=api.headers(second_key))
    # THEN the POST, /status and /files all say completed, from the first task's object, with no job queued
    assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["cached"] is True
    task_id = r.json()["task_id"]
    status = api.client.get(f"/status/{task_id}", headers=api.headers(second_key)).json()
    assert status["status"] == "completed" and status["cached"] is True and status["file"].endswith("/video.mp4")
    files = api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(second_key), follow_redirects=False)
    assert files.status_code == 307 and f"tasks/{first}/video.mp4" in files.headers["location"]
    signed = api.client.get(status["file"], follow_redirects=False)
    assert signed.status_code == 307 and f"tasks/{first}/video.mp4" in signed.headers["location"]
    assert task_id not in queued_ids(aws)
    assert api.client.get(f"/status/{first}", headers=api.headers(first_key)).json()["cached"] is False


@pytest.mark.parametrize(("body", "changes"), [({"cache": False}, {}), ({}, {"result_sharing": "off"}), ({"end_time": 5}, {})])
def test_api_no_cache_hit_when_opted_out_off_or_other_params(make_api, aws, body, changes):
    api = make_api(**changes)
    key = api.make_key("k", ["get_video"])
    _download_once(make_api(), aws, key, "https://media.example.com/w")
    r = api.client.post("/get_video", json={"url": "https://media.example.com/w", **body}, headers=api.headers(key))
    assert r.status_code == 200 and r.json()["status"] == "waiting" and r.json()["cached"] is False
    assert r.json()["task_id"] in queued_ids(aws)


def test_api_no_cache_hit_when_the_object_is_gone(api, aws):
    key = api.make_key("k", ["get_video"])
    first = _download_once(api, aws, key, "https://media.example.com/gone")
    aws.clients.s3.delete_object(Bucket=aws.settings.media_bucket, Key=f"tasks/{first}/video.mp4")
    r = api.client.post("/get_video", json={"url": "https://media.example.com/gone"}, headers=api.headers(key))
    assert r.json()["status"] == "waiting"


def queued_ids(aws) -> list[str]:
    ids = []
    while True:
        messages = aws.clients.sqs.receive_message(QueueUrl=aws.settings.jobs_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return ids
        ids += [json.loads(m["Body"])["task_id"] for m in messages]
