"""The worker loop: long-poll SQS for as many jobs as there are free slots, run each on its own thread (its
child does the work), keep running jobs' messages and leases alive, and stop cleanly on SIGTERM/SIGINT.

Threads: the receiver (long polls only while a slot is free, so it never holds a message it cannot start),
one per running job (service.process), the heartbeat (every VISIBILITY_TIMEOUT/3; each job renewed on its own
pool thread with short-timeout clients, see heartbeat.py), and the main thread, which
waits for a stop and then shuts down: running jobs get SHUTDOWN_GRACE seconds to finish, the rest are killed,
their tasks released and their messages made visible at once, and the process exits 0. A receive still in
flight at exit is abandoned: whatever it brings back reappears after the queue's visibility timeout.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from shared import logs, metrics
from functions.worker.heartbeat import heartbeat_timeouts
from functions.worker.jobs.child import ForkserverLauncher
from functions.worker.jobs.scratch import Scratch
from functions.worker.presence import Presence, collect_versions
from functions.worker.service import STORE_ERRORS, JobService
from functions.worker.settings import WorkerSettings, get_worker_settings
from functions.worker.sharing import WorkerSharing
from shared.aws import AwsClients
from shared.stores.notify_queue import NotifyQueue
from shared.webhooks import COMPLETED
from shared.stores.queue import Job, JobQueue
from shared.stores.results import ResultStore
from shared.stores.workers import WorkerStore
from shared.stores.tasks import TaskStore
from shared.stores.usage import UsageStore

log = logging.getLogger(__name__)

_MAX_RECEIVE_BACKOFF = 30.0
_SETTLE_AFTER_ABORT = 60.0
_HEALTH_INTERVAL = 30.0
# Job outcomes counted as metrics (YtdlpHost namespace); duplicates and put-offs are not jobs run.
_OUTCOME_METRICS = {
    "completed": "JobsCompleted",
    "failed": "JobsFailed",
    "timed_out": "JobsTimedOut",
    "retry": "JobsRetried",
    "handed_back": "JobsHandedBack",
    "served": "JobsServedShared",
}


@dataclass
class LoopStats:
    """What the loop has done so far; stop policies decide on it."""

    received: int = 0
    finished: int = 0
    empty_polls: int = 0
    running: int = 0


class StopPolicy(Protocol):
    """Decides, before each receive, whether the loop should stop taking jobs (then it drains and exits)."""

    def should_stop(self, stats: LoopStats) -> bool: ...


class NeverStop:
    def should_stop(self, stats: LoopStats) -> bool:
        return False


@dataclass
class StopAfterJobs:
    """Stop taking jobs once `jobs` messages have been received (tests, one-shot runs)."""

    jobs: int

    def should_stop(self, stats: LoopStats) -> bool:
        return stats.received >= self.jobs


@dataclass
class StopWhenIdle:
    """Stop after `polls` consecutive empty long polls with nothing running (batch-style workers)."""

    polls: int

    def should_stop(self, stats: LoopStats) -> bool:
        return stats.running == 0 and stats.empty_polls >= self.polls


class Slots:
    """Counts running jobs against the limit; waiting for a free slot is a condition wait, not a sleep loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    def wait_free(self, stop: threading.Event) -> int:
        """Block until at least one slot is free (returns how many) or `stop` is set (returns 0)."""
        with self._cond:
            while self._used >= self.size and not stop.is_set():
                self._cond.wait()
            return 0 if stop.is_set() else self.size - self._used

    def take(self) -> None:
        with self._cond:
            self._used += 1

    def give(self) -> None:
        with self._cond:
            self._used -= 1
            self._cond.notify_all()

    def wait_empty(self, timeout: float | None) -> bool:
        """Block until no job runs (True) or `timeout` passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._used > 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Worker:
    """Runs the loop until stopped; `run()` returns the process exit code."""

    def __init__(
        self,
        settings: WorkerSettings,
        queue: JobQueue,
        service: JobService,
        stop_policy: StopPolicy | None = None,
        health_file: Path | None = None,
        presence: Presence | None = None,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._service = service
        self._policy = stop_policy or NeverStop()
        self._health_file = health_file
        self._presence = presence
        self._slots = Slots(settings.max_workers)
        self._stop = threading.Event()
        self._drain = False  # stop asked by the policy: let running jobs finish, however long
        self._stop_at: float | None = None
        self._signals = 0
        self._stats = LoopStats()
        self._stats_lock = threading.Lock()
        self._job_threads: set[threading.Thread] = set()

    @property
    def stats(self) -> LoopStats:
        with self._stats_lock:
            return LoopStats(**vars(self._stats))

    def request_stop(self, drain: bool = False) -> None:
        """Stop receiving; running jobs finish (drain) or get the shutdown grace (signals)."""
        if self._stop_at is None:
            self._stop_at = time.monotonic()
            self._drain = drain
        self._stop.set()
        self._slots.wake()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop the loop; a second one cuts the grace short."""

        def handle(signum: int, _frame: Any) -> None:
            self._signals += 1
            if self._signals > 1 and self._stop.is_set():
                self._service.abort_all("shutdown")
            self.request_stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> int:
        """Receive and run jobs until stopped; then shut down as the module docstring says."""
        receiver = threading.Thread(target=self._receive_loop, name="receiver", daemon=True)
        heartbeat_stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat_loop, args=(heartbeat_stop,), name="heartbeat", daemon=True)
        self._touch_health()
        if self._presence is not None:
            self._presence.beat()
        receiver.start()
        heartbeat.start()
        log.info("worker started", extra={"worker_id": self._service.worker_id, "max_workers": self._settings.max_workers})
        self._stop.wait()
        self._service.stopping.set()
        self._shutdown()
        heartbeat_stop.set()
        heartbeat.join(5)
        if self._presence is not None:
            self._presence.leave()
        receiver.join(1)
        stats = self.stats
        stats.running = self._slots.used
        log.info("worker stopped", extra={"worker_id": self._service.worker_id, **vars(stats)})
        return 0

    def _shutdown(self) -> None:
        running = self._slots.used
        if self._drain:
            log.info("stopping: waiting for running jobs", extra={"running": running})
            self._slots.wait_empty(None)
        else:
            grace = float(self._settings.shutdown_grace)
            elapsed = time.monotonic() - (self._stop_at or time.monotonic())
            log.info("stopping: running jobs get the shutdown grace", extra={"running": running, "grace": grace})
            if not self._slots.wait_empty(max(0.0, grace - elapsed)):
                aborted = self._service.abort_all("shutdown")
                log.info("grace over: jobs killed and handed back", extra={"jobs": aborted})
                self._slots.wait_empty(_SETTLE_AFTER_ABORT)
        for thread in list(self._job_threads):
            thread.join(1)

    def _receive_loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            with self._stats_lock:
                self._stats.running = self._slots.used
                stats = LoopStats(**vars(self._stats))
            if self._policy.should_stop(stats):
                log.info("stop policy: no more jobs", extra=vars(stats))
                self.request_stop(drain=True)
                return
            free = self._slots.wait_free(self._stop)
            if free <= 0:
                return
            try:
                jobs = self._queue.receive(free, wait_seconds=self._settings.receive_wait, visibility_timeout=self._settings.visibility_timeout)
            except STORE_ERRORS as err:
                log.warning("receive failed, retrying", extra={"error": str(err), "retry_in": backoff})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_RECEIVE_BACKOFF)
                continue
            backoff = 1.0
            self._touch_health()
            if self._stop.is_set():
                self._hand_back(jobs)
                return
            with self._stats_lock:
                self._stats.received += len(jobs)
                self._stats.empty_polls = 0 if jobs else self._stats.empty_polls + 1
            for job in jobs:
                self._start_job(job)

    def _start_job(self, job: Job) -> None:
        self._slots.take()
        thread = threading.Thread(target=self._run_job, args=(job,), name=f"job-{job.task_id or job.message_id}", daemon=True)
        self._job_threads.add(thread)
        thread.start()

    def _run_job(self, job: Job) -> None:
        try:
            outcome = self._service.process(job)
            log.debug("message handled", extra={"task_id": job.task_id, "outcome": outcome.value})
            if outcome.value in _OUTCOME_METRICS:
                metrics.emit({_OUTCOME_METRICS[outcome.value]: 1}, self._settings.stack_name)
        except Exception:
            log.exception("job crashed the handler; its message will come back", extra={"task_id": job.task_id})
        finally:
            with self._stats_lock:
                self._stats.finished += 1
            self._job_threads.discard(threading.current_thread())
            self._slots.give()

    def _hand_back(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                self._queue.put_off(job, 0)  # never started: no attempt used
            except STORE_ERRORS as err:
                log.warning("could not hand back a message", extra={"task_id": job.task_id, "error": str(err)})

    def _heartbeat_loop(self, stop: threading.Event) -> None:
        interval = self._settings.heartbeat_interval
        tick = min(interval, _HEALTH_INTERVAL)  # the health file stays fresh even with a long visibility window
        next_beat = time.monotonic() + interval
        while not stop.wait(tick):
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + interval
                try:
                    self._service.keep_alive()
                except Exception:
                    log.exception("heartbeat failed")
                if self._presence is not None:
                    self._presence.beat()
            self._touch_health()

    def _touch_health(self) -> None:
        if self._health_file is None:
            return
        try:
            self._health_file.touch()
        except OSError:
            pass


def new_worker_id() -> str:
    """host:pid:random, unique per worker process (the lease holder's first part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def main(stop_policy: StopPolicy | None = None) -> int:
    """Build everything from the environment and run one worker process."""
    logs.configure("worker")
    try:
        settings = get_worker_settings()
    except ValidationError as err:
        # One line per bad setting, naming it and why (never the value: some settings are secrets).
        for problem in err.errors():
            log.error("invalid setting", extra={"setting": ".".join(str(p) for p in problem["loc"]).upper(), "reason": problem["msg"]})
        return 2
    if not settings.jobs_queue_url:
        log.error("JOBS_QUEUE_URL is not set")
        return 2

    worker_id = new_worker_id()
    clients = AwsClients.from_settings(settings, sqs_read_timeout=settings.receive_wait + 10)
    scratch = Scratch.open(settings.scratch_dir, worker_id)
    launcher = ForkserverLauncher()
    launcher.warm_up()
    queue = JobQueue(clients.sqs, settings.jobs_queue_url)
    beat = AwsClients.from_settings(settings, timeouts=heartbeat_timeouts(settings.visibility_timeout))
    notify = NotifyQueue(clients.sqs, settings.notify_queue_url) if settings.notify_queue_url else None
    service = JobService(
        settings,
        TaskStore(clients.dynamodb, settings.tasks_table),
        queue,
        launcher,
        scratch,
        worker_id,
        heartbeat_tasks=TaskStore(beat.dynamodb, settings.tasks_table),
        heartbeat_queue=JobQueue(beat.sqs, settings.jobs_queue_url),
        notify=notify,
        sharing=WorkerSharing(
            ResultStore(clients.dynamodb, settings.results_table), TaskStore(clients.dynamodb, settings.tasks_table),
            settings.task_ttl_seconds, settings.waiting_timeout,
            # The notifier drops events of tasks without a webhook_url, so every served task can be announced.
            on_completed=(lambda task_id: notify.announce(task_id, COMPLETED)) if notify is not None else None,
        ),
        usage=UsageStore(clients.dynamodb, settings.usage_table),
    )
    # The record outlives a few missed beats, then expires (TTL): /health counts only workers seen recently.
    presence = Presence(
        WorkerStore(clients.dynamodb, settings.workers_table), worker_id, collect_versions(), ttl=3 * settings.heartbeat_interval + 30,
        running=lambda: len(service.registry),
    )
    worker = Worker(settings, queue, service, stop_policy=stop_policy, health_file=Path(settings.scratch_dir) / "alive", presence=presence)
    worker.install_signal_handlers()
    try:
        return worker.run()
    finally:
        launcher.close()
        scratch.close()
