"""Long jobs survive: redeliveries that are not failures cost no attempt, the heartbeat renews each job on its
own, the cleanup never fails a task a live worker holds, and waiting tasks whose job was lost expire."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from functions.cleanup.handler import build_service
from functions.worker.service import JobService, Outcome, RunningJob
from shared.stores.queue import Job, JobQueue
from shared.stores.tasks import TaskStore
from tests.unit.test_worker_service import FakeLauncher, FakeQueue, FakeTasks, job, scratch, service, settings  # noqa: F401

TASK = "L" * 16


# -- worker: put-offs instead of attempts


def test_worker_service_redelivery_of_its_own_running_job_is_put_off(scratch):  # noqa: F811
    # GIVEN a job this worker runs WHEN its message comes back after a hiccup (receive count 2)
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher(runs=30)
    svc = service(scratch, tasks, queue, launcher)
    runner = threading.Thread(target=svc.process, args=(job(),))
    runner.start()
    while not launcher.started:
        time.sleep(0.01)
    assert svc.process(job(receive_count=2)) is Outcome.DUPLICATE
    # THEN it is sent afresh (its receive count starts over), and the heartbeat no longer extends the old handle
    assert queue.calls == [("put_off", "m1", 30)]
    svc.keep_alive()
    assert ("renew",) in tasks.calls and not any(c[0] == "extend" for c in queue.calls)
    svc.abort_all("timeout")
    runner.join(5)


def test_worker_service_redelivery_of_a_job_another_worker_runs_is_put_off(scratch):  # noqa: F811
    tasks = FakeTasks(status="processing", lease_owner="worker-b/m1", lease_until=time.time() + 30)
    queue, launcher = FakeQueue(), FakeLauncher()
    assert service(scratch, tasks, queue, launcher).process(job(receive_count=2)) is Outcome.DUPLICATE
    assert launcher.started == [] and [c[0] for c in queue.calls] == ["put_off"]


def test_worker_service_claim_refused_is_put_off(scratch):  # noqa: F811
    tasks, queue, launcher = FakeTasks(), FakeQueue(), FakeLauncher()
    tasks.start = lambda *a: None  # type: ignore[method-assign]
    assert service(scratch, tasks, queue, launcher).process(job()) is Outcome.DUPLICATE
    assert queue.calls == [("put_off", "m1", 10)]


def test_worker_service_job_id_in_the_message_names_the_holder(scratch):  # noqa: F811
    tasks, queue = FakeTasks(), FakeQueue()
    j = Job(task_id="t" * 16, receipt_handle="rh", message_id="m9", receive_count=1, job_id="j1")
    assert service(scratch, tasks, queue, FakeLauncher()).process(j) is Outcome.COMPLETED
    assert tasks.calls[0] == ("start", "worker-a/j1")


# -- worker: the heartbeat


class StallingTasks(FakeTasks):
    """renew_lease of one task blocks until released (a stalled DynamoDB call)."""

    def __init__(self, stalled: str) -> None:
        super().__init__()
        self.stalled = stalled
        self.release = threading.Event()
        self.renewed: dict[str, threading.Event] = {}

    def renew_lease(self, task_id: str, holder: str, lease: float) -> bool:
        self.renewed.setdefault(task_id, threading.Event()).set()
        if task_id == self.stalled:
            self.release.wait(30)
        return True


def test_worker_heartbeat_one_stalled_renewal_does_not_hold_up_the_others(scratch):  # noqa: F811
    # GIVEN three running jobs, the first of which has a renewal that hangs
    tasks, queue = StallingTasks(stalled="a" * 16), FakeQueue()
    svc = JobService(settings(max_workers=3), tasks, queue, FakeLauncher(), scratch, "w", sleep=lambda s: None)  # type: ignore[arg-type]
    for name in "abc":
        entry, _ = svc.registry.reserve(job(task_id=name * 16, message_id=f"m-{name}"), f"w/m-{name}")
        entry.active = True
    # WHEN the heartbeat runs (twice: the second finds the first renewal still stalled)
    beat = threading.Thread(target=lambda: (svc.keep_alive(), svc.keep_alive()), daemon=True)
    beat.start()
    try:
        # THEN the other jobs' leases and messages are renewed all the same
        assert tasks.renewed.setdefault("b" * 16, threading.Event()).wait(10)
        assert tasks.renewed.setdefault("c" * 16, threading.Event()).wait(10)
        deadline = time.monotonic() + 10
        while len([c for c in queue.calls if c[0] == "extend"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {c[1] for c in queue.calls if c[0] == "extend"} == {"m-b", "m-c"}
    finally:
        tasks.release.set()
        beat.join(10)


def test_worker_heartbeat_clients_time_out_well_within_the_visibility_window():
    from functions.worker.heartbeat import heartbeat_timeouts

    for visibility in (10, 30, 60, 600):
        t = heartbeat_timeouts(visibility)
        worst = (t["connect_timeout"] + t["read_timeout"]) * t["max_attempts"]
        assert worst < visibility / 3


# -- stores (moto)


def test_queue_put_off_keeps_the_job_id_and_starts_the_receive_count_over(aws):
    sqs = aws.clients.sqs
    url = sqs.create_queue(QueueName="put-off")["QueueUrl"]
    queue = JobQueue(sqs, url)
    queue.send(TASK)
    first = queue.receive(1, wait_seconds=0, visibility_timeout=0)[0]
    again = queue.receive(1, wait_seconds=0, visibility_timeout=30)[0]
    assert again.receive_count == 2 and again.job_id == first.job_id != ""
    queue.put_off(again, 0)
    fresh = queue.receive(1, wait_seconds=0)[0]
    assert fresh.receive_count == 1 and fresh.job_id == first.job_id and fresh.message_id != first.message_id
    assert queue.extend(again, 30) is False  # the old message is gone
    assert queue.receive(1, wait_seconds=0) == []


def test_task_release_at_shutdown_gives_the_attempt_back(aws):
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create(TASK, "o", "get_video", "https://m.example.com", {})
    assert tasks.start(TASK, "w1/j", 30)["attempts"] == 1
    tasks.release(TASK, "w1/j")
    again = tasks.get(TASK)
    assert again["status"] == "waiting" and again["attempts"] == 0


# -- cleanup


def _dead_letter(aws: Any, task_id: str) -> None:
    aws.clients.sqs.send_message(QueueUrl=aws.settings.dead_letter_queue_url, MessageBody=json.dumps({"task_id": task_id, "job_id": "j1"}))


def _drain(aws: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        messages = aws.clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            aws.clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_cleanup_redrives_a_dead_job_whose_task_a_live_worker_holds(aws):
    # GIVEN a recording whose message reached the dead-letter queue through hiccups while its worker still runs it
    _drain(aws, aws.settings.jobs_queue_url)
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create(TASK, "o", "get_live_video", "https://m.example.com", {"duration": 7200})
    tasks.start(TASK, "w1/j1", 60)
    _dead_letter(aws, TASK)
    # WHEN the cleanup runs
    report = build_service(aws.settings, aws.clients).run()
    # THEN the task keeps running and its job is back in the jobs queue, same job id
    assert report.dead_jobs_failed == 0 and report.dead_jobs_redriven == 1
    assert tasks.get(TASK)["status"] == "processing"
    assert _drain(aws, aws.settings.jobs_queue_url) == [{"task_id": TASK, "job_id": "j1"}]
    assert _drain(aws, aws.settings.dead_letter_queue_url) == []


def test_cleanup_fails_a_waiting_task_whose_job_was_lost_then_removes_it(aws):
    # GIVEN a task made with a 60 s waiting deadline whose message never arrived
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create("W" * 16, "o", "get_video", "https://m.example.com", {}, waiting_seconds=60)
    tasks.create("R" * 16, "o", "get_video", "https://m.example.com", {}, waiting_seconds=60)
    tasks.start("R" * 16, "w1/j1", 3600)  # a long job under a live lease
    cleanup = build_service(aws.settings.model_copy(update={"waiting_timeout": 60}), aws.clients)
    # WHEN the cleanup runs after the deadline
    report = cleanup.run(now=time.time() + 120)
    # THEN the waiting one fails with a readable error; the running one is left alone
    assert report.waiting_tasks_failed == 1
    lost = tasks.get("W" * 16)
    assert lost["status"] == "error" and "did not start" in lost["error"]
    assert tasks.get("R" * 16)["status"] == "processing"
    # AND once its own time is up the failed task is removed
    later = cleanup.run(now=time.time() + 120 + aws.settings.task_ttl_seconds + 1)
    assert later.tasks_removed >= 1 and tasks.get("W" * 16) is None
    assert tasks.get("R" * 16)["status"] == "processing"
