"""The worker when things go wrong, with real processes: a SIGKILLed worker, a job past its time limit,
SIGTERM during jobs, and a message nobody can settle going to the dead-letter queue."""

from __future__ import annotations

import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.support.worker import (
    alive,
    emulator,  # noqa: F401  (fixture)
    get_task,
    make_queues,
    queue_counts,
    start_worker,  # noqa: F401  (fixture)
    submit,
    task_objects,
    wait_for_task,
)

pytestmark = pytest.mark.integration


def slow_copy(media_dir: Path, media_server, rate: int) -> tuple[str, str]:
    """A private copy of the 60 s mp4 served at `rate` bytes/s; returns (url, url path)."""
    name = f"slow-{uuid.uuid4().hex[:8]}.mp4"
    shutil.copyfile(media_dir / "video.mp4", media_dir / name)
    media_server.set_throttle(rate, f"/{name}")
    return media_server.url(name), f"/{name}"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def downloading(stack, task_id: str) -> bool:
    task = get_task(stack, task_id)
    return task["status"] == "processing" and (task.get("progress") or {}).get("stage") == "downloading"


def test_worker_killed_mid_job_leaves_no_orphan_and_another_worker_finishes_it(emulator, start_worker, media_dir, media_server, tmp_path):  # noqa: F811
    queues = make_queues(emulator)
    url, path = slow_copy(media_dir, media_server, 200_000)
    task_id = submit(emulator, queues, "get_video", url)
    first = start_worker(queues, max_workers=1)
    wait_until(lambda: downloading(emulator, task_id), 30, "the first worker to download")
    below = first.descendants()  # forkserver and the job's child
    assert len(below) >= 2
    leftovers = list((tmp_path / "scratch").glob("w-*"))
    assert leftovers

    first.process.kill()  # SIGKILL: no handler runs
    first.wait(10)
    wait_until(lambda: not any(alive(pid) for pid in below), 5, "the job's child to die with its worker")

    media_server.set_throttle(None, path)
    second = start_worker(queues, max_workers=1)
    task = wait_for_task(emulator, task_id, timeout=40, worker=second)
    assert task["status"] == "completed", task
    assert task["attempts"] == 2
    assert task_objects(emulator, task_id) == [f"tasks/{task_id}/video.mp4"]
    assert not any(p.exists() for p in leftovers)  # the crashed worker's scratch folder was removed


def test_worker_job_past_its_time_limit_ends_in_error(emulator, start_worker, media_dir, media_server, tmp_path):  # noqa: F811
    queues = make_queues(emulator)
    url, _ = slow_copy(media_dir, media_server, 100_000)
    worker = start_worker(queues, job_timeout=2)
    task_id = submit(emulator, queues, "get_video", url)
    task = wait_for_task(emulator, task_id, timeout=30, worker=worker)
    assert task["status"] == "error"
    assert task["error"] == "timed out after 2 seconds"
    assert task_objects(emulator, task_id) == []
    job_dirs = [p for p in (tmp_path / "scratch").glob("w-*/*") if p.is_dir()]
    assert job_dirs == []  # the killed job's scratch folder is gone too
    wait_until(lambda: queue_counts(emulator, queues.url) == (0, 0), 10, "the message to be deleted")


def test_worker_sigterm_during_two_jobs_hands_them_back_and_exits_0(emulator, start_worker, media_dir, media_server):  # noqa: F811
    queues = make_queues(emulator, visibility=30)
    ids = [submit(emulator, queues, "get_video", slow_copy(media_dir, media_server, 100_000)[0]) for _ in range(2)]
    worker = start_worker(queues, max_workers=2, shutdown_grace=1, visibility_timeout=30)
    wait_until(lambda: all(downloading(emulator, i) for i in ids), 30, "both jobs to run")
    below = worker.descendants()

    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert time.monotonic() - started < 10
    # The killed children at once; the forkserver and resource tracker as soon as they see the worker gone.
    wait_until(lambda: not any(alive(pid) for pid in below), 5, "every process below the worker to exit")
    for task_id in ids:
        task = get_task(emulator, task_id)
        assert task["status"] == "waiting" and "lease_owner" not in task and "progress" not in task
    # Visible again at once, not after the 30 s visibility timeout.
    handed_back = queues.jobs.receive(10, wait_seconds=1)
    assert sorted(j.task_id for j in handed_back) == sorted(ids)


def test_worker_task_store_outage_puts_the_job_off_without_using_attempts(emulator, start_worker):  # noqa: F811
    queues = make_queues(emulator, max_receive=3)
    task_id = submit(emulator, queues, "get_video", "http://127.0.0.1:9/never-fetched.mp4")
    # The task store is unreachable for this worker (no such table): it must back off, not crash, and an outage
    # is not the job's failure: its message is put off again and again, never sent to the dead-letter queue.
    worker = start_worker(queues, tasks_table="no-such-table", retry_backoff=0.5)

    def put_offs() -> list[dict]:
        return [r for r in worker.log_records() if r.get("message") == "task store unavailable, message put off"]

    wait_until(lambda: len(put_offs()) >= 4, 60, "four put-offs", interval=0.3)
    assert {r["task_id"] for r in put_offs()} == {task_id}
    assert queue_counts(emulator, queues.dlq_url)[0] == 0
    assert worker.process.poll() is None


def test_worker_refuses_private_networks_end_to_end(emulator, start_worker, media_server):  # noqa: F811
    """With ALLOW_PRIVATE_NETWORKS off, a 127.0.0.1 media URL is refused at once, while the job process's own
    AWS calls (the emulator, also on 127.0.0.1) still go through."""
    queues = make_queues(emulator)
    worker = start_worker(queues, allow_private_networks="false")
    media_server.clear_requests()
    task_id = submit(emulator, queues, "get_video", media_server.url("video.mp4"))
    task = wait_for_task(emulator, task_id, timeout=30, worker=worker)
    assert task["status"] == "error" and task["attempts"] == 1
    assert task["error"] == "URL host '127.0.0.1' resolves to a non-public address; private networks are not allowed"
    assert media_server.requests_for("/video.mp4") == []
