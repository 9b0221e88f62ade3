"""The worker's message handling and loop with in-memory fakes: no AWS, no child processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from functions.worker.main import LoopStats, StopAfterJobs, StopWhenIdle, Worker
from functions.worker.jobs.scratch import Scratch
from functions.worker.jobs.cookies import OperatorCookies
from functions.worker.service import Action, JobService, Outcome, triage, time_limit
from functions.worker.settings import WorkerSettings
from shared.stores.queue import Job


def settings(**changes: Any) -> WorkerSettings:
    base = dict(jobs_queue_url="q", max_workers=2, visibility_timeout=30, max_attempts=3, retry_backoff=10, job_timeout=5, live_timeout_margin=7)
    base.update(changes)
    return WorkerSettings(**base)


def job(task_id: str = "t" * 16, message_id: str = "m1", receive_count: int = 1) -> Job:
    return Job(task_id=task_id, receipt_handle=f"rh-{message_id}-{receive_count}", message_id=message_id, receive_count=receive_count)


class FakeTasks:
    def __init__(self, **task: Any) -> None:
        self.task: dict[str, Any] | None = {"task_id": "t" * 16, "status": "waiting", "task_type": "get_video", "url": "u", "params": {}, "attempts": 0, **task}
        self.calls: list[tuple[str, ...]] = []
        self.down = False
        self.renew_ok = True

    def get(self, task_id: str) -> dict[str, Any] | None:
        if self.down:
            from shared.errors import Unavailable

            raise Unavailable("The task store is unavailable, try again later")
        return None if self.task is None else dict(self.task)

    def start(self, task_id: str, holder: str, lease: float) -> dict[str, Any] | None:
        self.calls.append(("start", holder))
        assert self.task is not None
        self.task.update(status="processing", lease_owner=holder, lease_until=time.time() + lease, attempts=self.task["attempts"] + 1)
        return dict(self.task)

    def complete(self, task_id: str, name: str, ttl: int, holder: str) -> bool:
        self.calls.append(("complete", name))
        return True

    def fail(self, task_id: str, error: str, ttl: int, holder: str) -> bool:
        self.calls.append(("fail", error))
        return True

    def requeue(self, task_id: str, holder: str, error: str) -> bool:
        self.calls.append(("requeue", error))
        return True

    def release(self, task_id: str, holder: str) -> None:
        self.calls.append(("release",))

    def renew_lease(self, task_id: str, holder: str, lease: float) -> bool:
        self.calls.append(("renew",))
        return self.renew_ok


class FakeQueue:
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self.pending = list(jobs or [])
        self.calls: list[tuple[Any, ...]] = []
        self.asked: list[int] = []
        self.lock = threading.Lock()

    def receive(self, max_messages: int, wait_seconds: int = 20, visibility_timeout: int | None = None) -> list[Job]:
        with self.lock:
            self.asked.append(max_messages)
            taken, self.pending = self.pending[:max_messages], self.pending[max_messages:]
        if not taken:
            time.sleep(0.01)
        return taken

    def delete(self, j: Job) -> None:
        self.calls.append(("delete", j.message_id))

    def extend(self, j: Job, seconds: int) -> bool:
        self.calls.append(("extend", j.message_id, seconds))
        return True

    def put_off(self, j: Job, seconds: int) -> bool:
        self.calls.append(("put_off", j.message_id, seconds))
        return True


class FakeProcess:
    def __init__(self, result: dict[str, Any] | None, runs: float = 0.0) -> None:
        self.pid = 1234
        self.result = result
        self.exitcode: int | None = None
        self.killed = threading.Event()
        self._runs = runs

    def wait(self, timeout: float | None) -> bool:
        limit = self._runs if timeout is None else min(self._runs, timeout)
        if self.killed.wait(limit):
            self.result, self.exitcode = None, -9
            return True
        if timeout is not None and self._runs > timeout:
            return False
        self.exitcode = 0
        return True

    def kill(self) -> None:
        self.killed.set()


class FakeLauncher:
    def __init__(self, result: dict[str, Any] | None = None, runs: float = 0.0) -> None:
        self.result = result if result is not None else {"status": "completed", "file_name": "video.mp4"}
        self.runs = runs
        self.started: list[FakeProcess] = []
        self.specs: list[Any] = []

    def start(self, spec: Any) -> FakeProcess:
        self.specs.append(spec)
        process = FakeProcess(self.result, self.runs)
        self.started.append(process)
        return process


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    return Scratch.open(tmp_path, "test")


def service(scratch: Scratch, tasks: FakeTasks, queue: FakeQueue, launcher: FakeLauncher, **changes: Any) -> JobService:
    return JobService(settings(**changes), tasks, queue, launcher, scratch, "worker-a", sleep=lambda s: None)  # type: ignore[arg-type]


def test_worker_service_completes_the_task_then_deletes_the_message(scratch):
    tasks, queue = FakeTasks(), FakeQueue()
    assert service(scratch, tasks, queue, FakeLauncher()).process(job()) is Outcome.COMPLETED
    assert tasks.calls == [("start", "worker-a/m1"), ("complete", "video.mp4")]
    assert queue.calls == [("delete", "m1")]


def test_worker_service_permanent_failure_ends_the_task_at_once(scratch):
    tasks, queue = FakeTasks(), FakeQueue()
    launcher = FakeLauncher({"status": "failed", "permanent": True, "error": "HTTP Error 404: Not Found"})
    assert service(scratch, tasks, queue, launcher).process(job()) is Outcome.FAILED
    assert tasks.calls[-1] == ("fail", "HTTP Error 404: Not Found")
    assert queue.calls == [("delete", "m1")]


def test_worker_service_transient_failure_backs_off_then_fails_after_max_attempts(scratch):
    launcher = FakeLauncher({"status": "failed", "permanent": False, "error": "Connection reset by peer"})
    tasks, queue = FakeTasks(), FakeQueue()
    assert service(scratch, tasks, queue, launcher).process(job()) is Outcome.RETRY
    assert tasks.calls[-1] == ("requeue", "Connection reset by peer")
    assert queue.calls == [("extend", "m1", 10)]  # 10 s x attempt 1, message kept

    tasks, queue = FakeTasks(attempts=2), FakeQueue()
    assert service(scratch, tasks, queue, launcher).process(job(receive_count=3)) is Outcome.FAILED
    assert tasks.calls[-1] == ("fail", "failed after 3 attempts: Connection reset by peer")
    assert queue.calls == [("delete", "m1")]


def test_worker_service_a_crashed_child_counts_as_a_transient_failure(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher()
    launcher.start = lambda spec: FakeProcess(None)  # type: ignore[method-assign]
    assert service(scratch, tasks, queue, launcher).process(job()) is Outcome.RETRY
    assert "exited unexpectedly" in tasks.calls[-1][1]


def test_worker_service_kills_a_job_past_its_time_limit(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher(runs=30)
    started = time.monotonic()
    assert service(scratch, tasks, queue, launcher, job_timeout=1).process(job()) is Outcome.TIMED_OUT
    assert time.monotonic() - started < 5
    assert launcher.started[0].killed.is_set()
    assert tasks.calls[-1] == ("fail", "timed out after 1 seconds")
    assert queue.calls == [("delete", "m1")]


def test_worker_service_shutdown_hands_the_job_back(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher(runs=30)
    svc = service(scratch, tasks, queue, launcher)
    threading.Timer(0.2, svc.abort_all, args=("shutdown",)).start()
    assert svc.process(job()) is Outcome.HANDED_BACK
    assert ("release",) in tasks.calls
    assert queue.calls == [("put_off", "m1", 0)]  # a fresh message: the shutdown costs no attempt


def test_worker_service_heartbeat_extends_message_and_lease_and_stops_on_a_lost_lease(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher(runs=30)
    svc = service(scratch, tasks, queue, launcher)
    runner = threading.Thread(target=svc.process, args=(job(),))
    runner.start()
    deadline = time.monotonic() + 5
    while not launcher.started and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    svc.keep_alive()
    assert ("renew",) in tasks.calls and ("extend", "m1", 30) in queue.calls
    tasks.renew_ok = False
    svc.keep_alive()
    runner.join(5)
    assert launcher.started[0].killed.is_set()
    assert not any(c[0] in ("fail", "complete") for c in tasks.calls)  # the new holder settles it


@pytest.mark.parametrize(
    ("task", "message_id", "action"),
    [
        (None, "m1", Action.DELETE),
        ({"status": "completed"}, "m1", Action.DELETE),
        ({"status": "error"}, "m1", Action.DELETE),
        ({"status": "processing", "lease_owner": "worker-b/m1", "lease_until": 1060}, "m2", Action.DELETE),
        ({"status": "processing", "lease_owner": "worker-b/m1", "lease_until": 1060}, "m1", Action.LEAVE),
        ({"status": "processing", "lease_owner": "worker-b/m1", "lease_until": 990}, "m1", Action.CLAIM),
        ({"status": "waiting", "attempts": 1}, "m1", Action.CLAIM),
    ],
)
def test_worker_service_triage_of_duplicates(task, message_id, action):
    decision = triage(task, job(message_id=message_id), "worker-a/" + message_id, now=1000)
    assert decision.action is action
    if action is Action.LEAVE:
        assert decision.delay == 61  # back once the holder's lease would have run out


def test_worker_service_duplicate_message_does_no_second_download(scratch):
    tasks = FakeTasks(status="processing", lease_owner="worker-b/m1", lease_until=time.time() + 60)
    queue, launcher = FakeQueue(), FakeLauncher()
    assert service(scratch, tasks, queue, launcher).process(job(message_id="m2")) is Outcome.DUPLICATE
    assert launcher.started == [] and queue.calls == [("delete", "m2")]


def test_worker_service_duplicate_within_one_worker_is_not_run_twice(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher(runs=0.5)
    svc = service(scratch, tasks, queue, launcher)
    first = threading.Thread(target=svc.process, args=(job(message_id="m1"),))
    first.start()
    time.sleep(0.1)
    assert svc.process(job(message_id="m2")) is Outcome.DUPLICATE
    first.join(5)
    assert len(launcher.started) == 1
    assert ("delete", "m2") in queue.calls and ("delete", "m1") in queue.calls


def test_worker_service_task_store_outage_puts_the_message_off_for_later(scratch):
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher()
    tasks.down = True
    assert service(scratch, tasks, queue, launcher).process(job(receive_count=2)) is Outcome.RETRY
    assert queue.calls == [("put_off", "m1", 10)] and launcher.started == []  # no attempt used


def test_worker_service_time_limit_of_live_jobs_is_duration_plus_margin():
    s = settings(job_timeout=100, live_timeout_margin=30)
    assert time_limit({"task_type": "get_live_video", "params": {"duration": 1800}}, s) == 1830
    assert time_limit({"task_type": "get_live_audio", "params": {"duration": 5}}, s) == 35
    assert time_limit({"task_type": "get_video", "params": {}}, s) == 100


class FakeService:
    """Stands in for JobService in the loop: each job takes a little while; counts concurrency."""

    def __init__(self) -> None:
        self.worker_id = "w"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.done: list[str] = []

    def process(self, j: Job) -> Outcome:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            self.done.append(j.task_id)
        return Outcome.COMPLETED

    def keep_alive(self) -> None:
        pass

    def abort_all(self, reason: str) -> int:
        return 0


def test_worker_loop_never_holds_more_messages_than_free_slots():
    jobs = [job(task_id=f"{i:016d}", message_id=f"m{i}") for i in range(7)]
    queue, svc = FakeQueue(jobs), FakeService()
    worker = Worker(settings(max_workers=3), queue, svc, stop_policy=StopAfterJobs(7))  # type: ignore[arg-type]
    assert worker.run() == 0
    assert sorted(svc.done) == sorted(j.task_id for j in jobs)
    assert svc.peak <= 3
    assert all(1 <= n <= 3 for n in queue.asked)


def test_worker_loop_stop_policies():
    assert StopWhenIdle(2).should_stop(LoopStats(empty_polls=2))
    assert not StopWhenIdle(2).should_stop(LoopStats(empty_polls=2, running=1))
    assert StopAfterJobs(3).should_stop(LoopStats(received=3))
    queue, svc = FakeQueue(), FakeService()
    assert Worker(settings(), queue, svc, stop_policy=StopWhenIdle(3)).run() == 0  # type: ignore[arg-type]
    assert len(queue.asked) == 3


def test_worker_service_keeps_the_message_when_the_outcome_cannot_be_recorded(scratch):
    from botocore.exceptions import EndpointConnectionError

    tasks, queue = FakeTasks(), FakeQueue()

    def complete(*args: Any) -> bool:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    tasks.complete = complete  # type: ignore[method-assign]
    assert service(scratch, tasks, queue, FakeLauncher()).process(job()) is Outcome.RETRY
    assert queue.calls == []  # it comes back after the visibility timeout and the job runs again


def test_worker_service_hands_each_job_the_operator_cookies_it_read_for_the_jobs(scratch, tmp_path):
    cookies_file = tmp_path / "cookies.txt"
    text = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t0\tSID\tsecret-value\n"
    cookies_file.write_text(text)
    launcher = FakeLauncher()
    worker = service(scratch, FakeTasks(), FakeQueue(), launcher, cookies_file=str(cookies_file))
    assert worker.process(job()) is Outcome.COMPLETED
    assert launcher.specs[0].operator_cookies.reveal() == text.strip()
    assert "secret-value" not in repr(launcher.specs[0])


def test_worker_operator_cookies_are_read_once_per_cache_time(tmp_path):
    cookies_file = tmp_path / "cookies.txt"
    cookies_file.write_text("first")
    cookies = OperatorCookies(settings(cookies_file=str(cookies_file)), ttl=3600)
    assert cookies.get().reveal() == "first"
    cookies_file.write_text("second")  # within the cache time: no second read
    assert cookies.get().reveal() == "first"
    assert OperatorCookies(settings(cookies_file=str(cookies_file)), ttl=0).get().reveal() == "second"
    assert OperatorCookies(settings()).get() is None  # none configured


def test_worker_service_leaves_missing_operator_cookies_to_the_job(scratch, tmp_path):
    launcher = FakeLauncher()
    worker = service(scratch, FakeTasks(), FakeQueue(), launcher, cookies_file=str(tmp_path / "missing.txt"))
    assert worker.process(job()) is Outcome.COMPLETED
    assert launcher.specs[0].operator_cookies is None  # the job's own read fails it with a readable error


def test_worker_service_heartbeat_covers_a_slow_child_start(scratch):
    # GIVEN a child process whose start takes longer than a heartbeat (a loaded machine)
    release = threading.Event()

    class SlowLauncher(FakeLauncher):
        def start(self, spec: Any) -> FakeProcess:
            release.wait(5)
            return super().start(spec)

    tasks, queue, launcher = FakeTasks(), FakeQueue(), SlowLauncher()
    svc = service(scratch, tasks, queue, launcher)
    runner = threading.Thread(target=svc.process, args=(job(),))
    runner.start()
    deadline = time.monotonic() + 5
    while ("start", "worker-a/m1") not in tasks.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    # WHEN the heartbeat beats while the child is still starting
    svc.keep_alive()
    release.set()
    runner.join(5)
    # THEN lease and message were extended, so no other worker could claim the task meanwhile
    assert ("renew",) in tasks.calls and ("extend", "m1", 30) in queue.calls
    assert ("complete", "video.mp4") in tasks.calls
