"""Housekeeping: removes finished tasks whose time is up (item and files), fails tasks nobody runs any more
(their job reached the dead-letter queue, or they waited past WAITING_TIMEOUT), and never fails a task that a
live worker still holds: a dead-letter message whose task has an unexpired lease goes back to the jobs queue."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared.aws import AWS_ERRORS
from shared.errors import Unavailable
from shared.models import FINISHED_STATUSES, TaskStatus
from shared.webhooks import COMPLETED, FAILED
from shared.stores.media import MediaStore
from shared.stores.notify_queue import NotifyQueue
from shared.stores.playlists import PHASE_ENTRIES, PHASE_ZIP, entries_of, on_entry_ended, settle_playlist
from shared.stores.queue import JobQueue
from shared.stores.results import ResultStore
from shared.stores.tasks import TaskStore
from shared.stores.usage import UsageStore
from shared.stores.workers import WorkerStore

log = logging.getLogger(__name__)

_STORE_ERRORS = (Unavailable, *AWS_ERRORS)


@dataclass
class CleanupReport:
    tasks_removed: int = 0
    files_removed: int = 0
    dead_jobs_failed: int = 0
    dead_jobs_redriven: int = 0
    waiting_tasks_failed: int = 0
    shared_results_removed: int = 0
    workers_removed: int = 0
    errors: int = 0


def holds_live_lease(task: dict, now: float) -> bool:
    """True while a worker runs the task under an unexpired lease."""
    return task.get("status") == TaskStatus.PROCESSING.value and bool(task.get("lease_owner")) and float(task.get("lease_until") or 0) > now


class CleanupService:
    """One pass of housekeeping; safe to run from several places at once (every step is idempotent)."""

    def __init__(
        self,
        tasks: TaskStore,
        media: MediaStore,
        dead_letters: JobQueue | None,
        ttl_seconds: int,
        max_attempts: int,
        jobs: JobQueue | None = None,
        waiting_seconds: int = 86400,
        notify: NotifyQueue | None = None,
        results: ResultStore | None = None,
        usage: UsageStore | None = None,
        workers: WorkerStore | None = None,
    ) -> None:
        self._notify = notify
        self._tasks = tasks
        self._media = media
        self._dead_letters = dead_letters
        self._jobs = jobs
        self._ttl = ttl_seconds
        self._max_attempts = max_attempts
        self._waiting = waiting_seconds
        self._results = results
        self._usage = usage
        self._workers = workers

    def run(self, now: float | None = None, max_batches: int = 50) -> CleanupReport:
        report = CleanupReport()
        now = now if now is not None else time.time()
        self._settle_dead_jobs(report, now)
        self._remove_expired(report, now, max_batches)
        self._remove_expired_results(report, now, max_batches)
        self._purge_workers(report, now)
        return report

    def _purge_workers(self, report: CleanupReport, now: float) -> None:
        if self._workers is None:
            return
        try:
            report.workers_removed = self._workers.purge_expired(now)
        except _STORE_ERRORS:
            report.errors += 1
            log.warning("could not purge expired worker records, will retry", exc_info=True)

    def _count_failed(self, task: dict) -> None:
        # A fanned-out playlist's usage is its entries' (as in the worker): only one failed before it had any counts.
        if self._usage is not None and task.get("owner") and not task.get("phase"):
            self._usage.add(task["owner"], failed=1)

    def _remove_expired(self, report: CleanupReport, now: float, max_batches: int) -> None:
        for _ in range(max_batches):
            expired = self._tasks.expired(now=now, limit=100)
            if not expired:
                return
            for task_id in expired:
                try:
                    task = self._tasks.get(task_id, now=now)
                    if task is not None and task.get("status") not in FINISHED_STATUSES:
                        self._check_unfinished(report, task, now)
                        continue
                    # Files first: if this fails the item stays and the next pass tries again. A shared object
                    # outlives its task while other tasks point at it; its result's own expiry removes it. A
                    # playlist's files (its entries' and the archive) are all under its own id.
                    if not self._object_in_use(task_id, now):
                        report.files_removed += self._media.delete_task_files(task_id)
                    if task is not None and task.get("task_type") == "get_playlist":
                        self._tasks.playlists.delete_entries(task_id, [int(e["index"]) for e in entries_of(task)])
                    self._tasks.delete(task_id)
                    report.tasks_removed += 1
                except _STORE_ERRORS:
                    report.errors += 1
                    log.warning("could not remove task, will retry", extra={"task_id": task_id}, exc_info=True)
                    return

    def _object_in_use(self, task_id: str, now: float) -> bool:
        """True when the task's files are a shared result that a live task still points at."""
        if self._results is None:
            return False
        stored = self._tasks.read(task_id)
        key = stored.get("result_key") if stored else None
        found = self._results.get(key) if key else None
        return found is not None and found.get("object_task") == task_id and found["expires_at"] > now

    def _remove_expired_results(self, report: CleanupReport, now: float, max_batches: int) -> None:
        """Shared results whose every task has expired: the item, then the object (unless its own task still lives)."""
        if self._results is None:
            return
        for _ in range(max_batches):
            keys = self._results.expired(now=now, limit=100)
            if not keys:
                return
            for key in keys:
                try:
                    # The conditional delete loses to a task that joined meanwhile: then the object stays.
                    old = self._results.remove_expired(key, now)
                    if old is None:
                        continue
                    report.shared_results_removed += 1
                    owner = old.get("object_task")
                    if owner and self._tasks.get(owner, now=now) is None:
                        report.files_removed += self._media.delete_task_files(owner)
                except _STORE_ERRORS:
                    report.errors += 1
                    log.warning("could not remove a shared result, will retry", exc_info=True)
                    return

    def _check_unfinished(self, report: CleanupReport, task: dict, now: float) -> None:
        """A task past its waiting deadline: running -> look again later; otherwise its job is lost -> fail it."""
        task_id = task["task_id"]
        if holds_live_lease(task, now):
            self._tasks.postpone_check(task_id, float(task["lease_until"]) + self._waiting)
            return
        if task.get("phase") in (PHASE_ENTRIES, PHASE_ZIP):
            self._check_playlist(task, now)
            return
        hours = self._waiting / 3600
        error = f"the job did not start within {hours:g} hours (its queue message was lost); submit it again"
        if self._tasks.fail_unstarted(task_id, error, self._ttl, now=now):
            self._announce_failure(task)
            report.waiting_tasks_failed += 1
            self._count_failed(task)
            log.info("waiting task failed: its job was lost", extra={"task_id": task_id})
            self._entry_failed(task, error)
        else:  # started or finished meanwhile: look again after another waiting period
            self._tasks.postpone_check(task_id, now + self._waiting)

    def _check_playlist(self, task: dict, now: float) -> None:
        """A fanned-out playlist holds no lease: entries still running -> look later; all ended -> settle it (the
        last entry's worker died before it could); the archive's job lost -> queue it again."""
        task_id = task["task_id"]
        if task.get("phase") == PHASE_ZIP and self._jobs is not None:
            self._jobs.send(task_id)
        elif int(task.get("remaining") or 0) <= 0:
            counters = {"ok": int(task.get("ok") or 0), "zip": bool((task.get("params") or {}).get("zip"))}
            self._announce_settled(task, settle_playlist(self._tasks.playlists, self._jobs, task_id, counters, self._ttl))
        self._tasks.postpone_check(task_id, now + self._waiting)

    def _entry_failed(self, task: dict, error: str) -> None:
        """A playlist entry failed here (its job was lost): its playlist hears of it like from a worker."""
        if task.get("playlist_id"):
            settled = on_entry_ended(self._tasks.playlists, self._jobs, task, False, self._ttl, error=error)
            if settled in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value):
                self._announce_settled(self._tasks.get(task["playlist_id"]), settled)

    def _announce_settled(self, playlist: dict | None, settled: str | None) -> None:
        """The playlist was settled here: its one webhook event (completed or failed) leaves as from a worker."""
        if settled not in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value) or playlist is None:
            return
        if settled == TaskStatus.ERROR.value:
            self._announce_failure(playlist)
        elif self._notify is not None and playlist.get("webhook_url"):
            try:
                self._notify.announce(playlist["task_id"], COMPLETED)
            except _STORE_ERRORS:
                log.error("could not queue a task.completed webhook", extra={"task_id": playlist["task_id"]}, exc_info=True)

    def _announce_failure(self, task: dict) -> None:
        """The task failed here, not in a worker: queue its task.failed webhook (a failure is logged, not raised:
        the task is failed already and must not be failed again)."""
        if self._notify is None or not task.get("webhook_url"):
            return
        try:
            self._notify.announce(task["task_id"], FAILED)
        except _STORE_ERRORS:
            log.error("could not queue a task.failed webhook", extra={"task_id": task["task_id"]}, exc_info=True)

    def _settle_dead_jobs(self, report: CleanupReport, now: float) -> None:
        if self._dead_letters is None:
            return
        for _ in range(10):
            jobs = self._dead_letters.receive(max_messages=10, wait_seconds=0)
            if not jobs:
                return
            for job in jobs:
                try:
                    self._settle_dead_job(report, job, now)
                except _STORE_ERRORS:
                    report.errors += 1  # the message reappears in the dead-letter queue for the next pass
                    log.warning("could not settle a dead job, will retry", extra={"task_id": job.task_id}, exc_info=True)

    def _settle_dead_job(self, report: CleanupReport, job, now: float) -> None:
        task = self._tasks.get(job.task_id, now=now) if job.task_id else None
        if task is not None and holds_live_lease(task, now) and self._jobs is not None:
            # Redelivered too often while a live worker runs it (hiccups, not failures): keep it, never fail it.
            self._dead_letters.redrive(job, self._jobs)  # type: ignore[union-attr]
            report.dead_jobs_redriven += 1
            log.info("dead job re-driven: its task is still running", extra={"task_id": job.task_id})
            return
        if task is not None and task["status"] not in FINISHED_STATUSES:
            last = task.get("last_error") or "the worker stopped while running it"
            attempts = max(int(task.get("attempts", 0)), self._max_attempts)
            error = f"failed after {attempts} attempts: {last}"
            if self._tasks.fail_unstarted(job.task_id, error, self._ttl, now=now):
                self._announce_failure(task)
                report.dead_jobs_failed += 1
                self._count_failed(task)
                log.info("dead job failed", extra={"task_id": job.task_id})
                self._entry_failed(task, error)
        self._dead_letters.delete(job)  # type: ignore[union-attr]
