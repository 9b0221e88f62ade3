"""Stores against moto: the rate limit under concurrency, task leases, and the cleanup."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from functions.cleanup.handler import build_service
from shared.errors import RateLimited
from shared.models import media_key
from shared.stores.rate_limits import RateLimitStore, _free_slots
from shared.stores.tasks import TaskStore


def test_rate_limit_is_exact_under_concurrency(aws):
    # GIVEN a limit of 20 WHEN 60 requests race for slots THEN exactly 20 win and the rest get a retry time
    limits = RateLimitStore(aws.clients.dynamodb, aws.settings.rate_limits_table)

    def attempt(_: int) -> int | None:
        try:
            limits.acquire("subject", 20, 600)
            return None
        except RateLimited as err:
            return err.retry_after

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(60)))
    assert results.count(None) == 20
    assert all(590 <= r <= 600 for r in results if r is not None)


def test_rate_limit_window_slides(aws):
    limits = RateLimitStore(aws.clients.dynamodb, aws.settings.rate_limits_table)
    limits.acquire("s", 2, 1.0)
    quota = limits.acquire("s", 2, 1.0)
    try:
        limits.acquire("s", 2, 1.0)
        raise AssertionError("third request in the window was accepted")
    except RateLimited as err:
        assert err.retry_after == 1
    limits.release("s", quota)  # a withdrawn request gives its slot back
    limits.acquire("s", 2, 1.0)
    time.sleep(1.1)
    limits.acquire("s", 2, 1.0)


def test_rate_limit_acquire_returns_the_keys_standing(aws):
    # GIVEN a limit of 3 in a 600 s window
    limits = RateLimitStore(aws.clients.dynamodb, aws.settings.rate_limits_table)
    # WHEN requests take slots THEN each answer counts down what is left, and says when a slot frees up
    standings = [limits.acquire("k", 3, 600) for _ in range(3)]
    assert [(q.limit, q.remaining, q.used) for q in standings] == [(3, 2, 1), (3, 1, 2), (3, 0, 3)]
    assert all(595 <= q.reset <= 600 and q.window == 600 for q in standings)
    # AND the refusal carries the same standing (0 left), and reading it takes no slot
    try:
        limits.acquire("k", 3, 600)
        raise AssertionError("a fourth request was accepted")
    except RateLimited as err:
        assert (err.quota.limit, err.quota.remaining) == (3, 0) and err.quota.reset == err.retry_after
    assert limits.standing("k", 3, 600).remaining == 0
    assert limits.standing("other", 3, 600) == limits.standing("other", 3, 600)
    assert (limits.standing("other", 3, 600).remaining, limits.standing("other", 3, 600).reset) == (3, 600)


def test_task_lease_admits_one_worker_at_a_time(aws):
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create("T" * 16, "owner", "get_info", "https://m.example.com", {})
    assert tasks.start("T" * 16, "w1", 30)["attempts"] == 1
    assert tasks.start("T" * 16, "w2", 30) is None  # w1's lease is live
    assert tasks.renew_lease("T" * 16, "w1", 30)
    assert not tasks.complete("T" * 16, "info.json", 600, worker_id="w2")
    assert tasks.complete("T" * 16, "info.json", 600, worker_id="w1")
    assert tasks.start("T" * 16, "w2", 30) is None  # finished tasks are never started again
    done = tasks.get("T" * 16)
    assert done["status"] == "completed" and done["file_name"] == "info.json" and "lease_owner" not in done


def test_cleanup_removes_expired_tasks_and_files_and_fails_dead_jobs(aws):
    settings = aws.settings
    tasks = TaskStore(aws.clients.dynamodb, settings.tasks_table)
    s3 = aws.clients.s3
    for task_id, ttl in (("A" * 16, 0), ("B" * 16, 600)):
        tasks.create(task_id, "o", "get_info", "https://m.example.com", {})
        s3.put_object(Bucket=settings.media_bucket, Key=media_key(task_id, "info.json"), Body=b"{}")
        tasks.complete(task_id, "info.json", ttl)
    tasks.create("C" * 16, "o", "get_video", "https://m.example.com", {})
    aws.clients.sqs.send_message(QueueUrl=settings.dead_letter_queue_url, MessageBody=json.dumps({"task_id": "C" * 16}))

    report = build_service(settings, aws.clients).run(now=time.time() + 1)

    assert report.tasks_removed == 1 and report.files_removed == 1 and report.dead_jobs_failed == 1
    assert tasks.get("A" * 16) is None and tasks.get("B" * 16) is not None
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=settings.media_bucket).get("Contents", [])] == [media_key("B" * 16, "info.json")]
    dead = tasks.get("C" * 16)
    assert dead["status"] == "error" and dead["error"].startswith("failed after 3 attempts")


def test_free_slots_are_drawn_from_the_free_ones_whatever_the_limit():
    # few in use out of a huge limit: a handful of random free slots, without listing the limit
    busy = {slot: 1.0 for slot in range(0, 1000, 2)}
    picks = _free_slots(busy, 10**9)
    assert len(picks) == len(set(picks)) == 8 and not set(picks) & set(busy)
    # most in use: every free slot, each once
    busy = {slot: 1.0 for slot in range(20) if slot not in (3, 11, 19)}
    assert sorted(_free_slots(busy, 20)) == [3, 11, 19]
    # none free / fewer free than the sample
    assert _free_slots({slot: 1.0 for slot in range(20)}, 20) == []
    assert sorted(_free_slots({0: 1.0}, 3)) == [1, 2]


def test_cleanup_purges_expired_worker_records_and_keeps_live_ones(aws):
    # GIVEN a worker killed long ago (its record expired, and a backend without TTL keeps it) and a live one
    from shared.stores.workers import WorkerStore

    workers = WorkerStore(aws.clients.dynamodb, aws.settings.workers_table)
    now = time.time()
    workers.beat("killed", {}, running=2, ttl=30, now=now - 3600)
    workers.beat("alive", {"yt_dlp": "x"}, running=0, ttl=30, now=now)
    # WHEN the cleanup runs
    report = build_service(aws.settings, aws.clients).run(now=now)
    # THEN the expired record is gone from the table, the live one stays
    assert report.workers_removed == 1
    left = aws.clients.dynamodb.scan(TableName=aws.settings.workers_table)["Items"]
    assert [i["worker_id"]["S"] for i in left] == ["alive"] and [w.worker_id for w in workers.live(now)] == ["alive"]
