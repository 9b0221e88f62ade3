"""A 90 s live recording survives a cleanup run and two simulated redeliveries (issue 9, "Long jobs survive").

The worker runs in this process (its loop, service and forkserver children as `python -m functions.worker` builds
them) so that its SQS client can be made to fail: while ChangeMessageVisibility fails, the heartbeat renews the
task's lease but cannot keep the message hidden, so the message is redelivered while the recording goes on, just
as network hiccups do. The queue sends a message to the dead-letter queue on its third receive.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from functions.cleanup.handler import build_service
from functions.worker.jobs.child import ForkserverLauncher
from functions.worker.jobs.scratch import Scratch
from functions.worker.main import StopAfterJobs, Worker
from functions.worker.service import JobService
from functions.worker.settings import WorkerSettings
from shared.aws import AwsClients
from shared.stores.queue import JobQueue
from shared.stores.tasks import TaskStore
from tests.support.faults import Faults
from tests.support.worker import emulator, get_task, make_queues, probe_output, queue_counts, submit, wait_for_task  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = 90


class Redeliveries(logging.Handler):
    """Counts the worker's 'message redelivered' log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("message redelivered"):
            self.count += 1


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def in_process_worker(emulator, tmp_path: Path) -> Iterator[tuple[Worker, Faults, Redeliveries, object]]:  # noqa: F811
    queues = make_queues(emulator, max_receive=2, visibility=10)
    s = emulator.settings
    settings = WorkerSettings(
        jobs_queue_url=queues.url,
        dead_letter_queue_url=queues.dlq_url,
        tasks_table=s.tasks_table,
        cookies_table=s.cookies_table,
        workers_table=s.workers_table,
        keys_kms_key_id=s.keys_kms_key_id,
        media_bucket=s.media_bucket,
        aws_region=s.aws_region,
        aws_endpoint_url=s.aws_endpoint_url,
        allow_private_networks=True,
        visibility_timeout=10,
        max_workers=2,
        receive_wait=1,
        retry_backoff=1,
        socket_timeout=5,
        scratch_dir=str(tmp_path / "scratch"),
    )
    clients = AwsClients.from_settings(settings, sqs_read_timeout=11)
    launcher = ForkserverLauncher()
    launcher.warm_up()
    scratch = Scratch.open(settings.scratch_dir, "live-test")
    queue = JobQueue(clients.sqs, queues.url)
    service = JobService(settings, TaskStore(clients.dynamodb, settings.tasks_table), queue, launcher, scratch, "live-test-worker")
    worker = Worker(settings, queue, service, stop_policy=StopAfterJobs(50))
    counter = Redeliveries()
    service_log = logging.getLogger("functions.worker.service")
    level = service_log.level
    service_log.setLevel(logging.INFO)
    service_log.addHandler(counter)
    runner = threading.Thread(target=worker.run, name="worker-under-test", daemon=True)
    runner.start()
    try:
        yield worker, Faults(clients), counter, queues
    finally:
        service_log.removeHandler(counter)
        service_log.setLevel(level)
        worker.request_stop()
        service.abort_all("shutdown")
        runner.join(30)
        launcher.close()
        scratch.close()


def test_live_recording_survives_a_cleanup_run_and_two_redeliveries(emulator, in_process_worker, live_stream, tmp_path):  # noqa: F811
    worker, faults, redelivered, queues = in_process_worker
    # GIVEN a 90 s recording under way
    task_id = submit(emulator, queues, "get_live_video", live_stream.url, {"start": 0, "duration": SECONDS, "output_format": "mp4"})
    wait_for(lambda: get_task(emulator, task_id)["status"] == "processing", 60, "the recording to start")

    # WHEN twice the worker cannot keep its message hidden, so the message comes back while it records
    for _ in range(2):
        seen = redelivered.count
        faults.fail("sqs", "server-error", ("ChangeMessageVisibility",))
        wait_for(lambda: redelivered.count > seen or queue_counts(emulator, queues.dlq_url)[0] > 0, 40, "a redelivery")
        faults.heal()
        time.sleep(15)  # a put-off copy comes back after one visibility timeout
    # AND the cleanup runs meanwhile
    cleanup = build_service(emulator.settings.model_copy(update={"dead_letter_queue_url": queues.dlq_url, "jobs_queue_url": queues.url}), emulator.clients)
    report = cleanup.run()

    # THEN the recording is never failed, and ends with the whole 90 s in one attempt
    assert report.dead_jobs_failed == 0
    assert get_task(emulator, task_id)["status"] == "processing"
    task = wait_for_task(emulator, task_id, timeout=SECONDS + 120)
    assert task["status"] == "completed", task
    assert task["attempts"] == 1
    info = probe_output(emulator, task, tmp_path)
    assert SECONDS - 3 <= info["duration"] <= SECONDS + 3
    assert info["video"]["height"] == 240 and info["audio"] is not None
