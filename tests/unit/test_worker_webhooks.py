"""Webhook events leave through the notify queue: the worker and the cleanup queue one when they settle a task that
has a webhook_url, never otherwise, and never deliver it themselves."""

from __future__ import annotations

import time
from typing import Any

from functions.cleanup.service import CleanupService
from functions.worker.service import Outcome
from shared.stores.media import MediaStore
from shared.stores.notify_queue import Event, NotifyQueue
from shared.stores.tasks import TaskStore
from tests.unit.test_worker_service import FakeLauncher, FakeQueue, FakeTasks, job, scratch, settings  # noqa: F401 - scratch is a fixture
from functions.worker.service import JobService


class FakeNotify:
    def __init__(self) -> None:
        self.announced: list[tuple[str, str]] = []

    def announce(self, task_id: str, event_type: str) -> None:
        self.announced.append((task_id, event_type))


def _service(scratch: Any, tasks: FakeTasks, launcher: FakeLauncher, notify: FakeNotify) -> JobService:
    return JobService(settings(), tasks, FakeQueue(), launcher, scratch, "worker-a", sleep=lambda s: None, notify=notify)  # type: ignore[arg-type]


def test_worker_queues_task_completed_for_a_task_with_a_webhook(scratch) -> None:  # type: ignore[no-untyped-def]
    notify = FakeNotify()
    assert _service(scratch, FakeTasks(webhook_url="http://127.0.0.1:9/in"), FakeLauncher(), notify).process(job()) is Outcome.COMPLETED
    assert notify.announced == [("t" * 16, "task.completed")]


def test_worker_queues_task_failed_for_a_permanent_failure(scratch) -> None:  # type: ignore[no-untyped-def]
    notify = FakeNotify()
    launcher = FakeLauncher({"status": "failed", "permanent": True, "error": "HTTP Error 404: Not Found"})
    assert _service(scratch, FakeTasks(webhook_url="http://127.0.0.1:9/in"), launcher, notify).process(job()) is Outcome.FAILED
    assert notify.announced == [("t" * 16, "task.failed")]


def test_worker_queues_nothing_without_a_webhook_or_for_a_retry(scratch) -> None:  # type: ignore[no-untyped-def]
    notify = FakeNotify()
    assert _service(scratch, FakeTasks(), FakeLauncher(), notify).process(job()) is Outcome.COMPLETED
    transient = FakeLauncher({"status": "failed", "permanent": False, "error": "Connection reset"})
    assert _service(scratch, FakeTasks(webhook_url="http://127.0.0.1:9/in"), transient, notify).process(job()) is Outcome.RETRY
    assert notify.announced == []


def test_worker_queues_nothing_when_another_holder_settled_the_task(scratch) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the task was finished by someone else meanwhile (complete's condition fails)  THEN that one announces, not us
    notify, tasks = FakeNotify(), FakeTasks(webhook_url="http://127.0.0.1:9/in")
    tasks.complete = lambda *a: False  # type: ignore[method-assign]
    _service(scratch, tasks, FakeLauncher(), notify).process(job())
    assert notify.announced == []


def test_cleanup_queues_task_failed_for_a_lost_job(aws) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a webhook task whose job was lost (waiting past WAITING_TIMEOUT) and one without a webhook
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    queue = NotifyQueue(aws.clients.sqs, aws.settings.notify_queue_url)
    tasks.create("Lost000000000001", "o" * 64, "get_video", "http://127.0.0.1:1/v", {}, waiting_seconds=60, webhook_url="http://127.0.0.1:9/in")
    tasks.create("Lost000000000002", "o" * 64, "get_video", "http://127.0.0.1:1/v", {}, waiting_seconds=60)
    cleanup = CleanupService(tasks, MediaStore(aws.clients.s3, aws.settings.media_bucket), None, 600, 3, waiting_seconds=60, notify=queue)
    # WHEN the cleanup runs after the deadline  THEN both fail and only the webhook task's event is queued
    report = cleanup.run(now=time.time() + 120)
    assert report.waiting_tasks_failed == 2
    assert [r.event for r in queue.receive(10, wait_seconds=1)] == [Event("Lost000000000001", "task.failed", "msg_Lost000000000001")]


def test_worker_and_cleanup_do_not_load_the_signing_library() -> None:
    # The worker image installs the worker's packages only (functions/worker/Dockerfile): no standardwebhooks there.
    import subprocess
    import sys

    code = "import sys, functions.worker.main, functions.cleanup.handler; assert 'standardwebhooks' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
