"""Removes finished tasks whose time is up (item and files), and fails tasks whose job died in the dead-letter queue."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared.aws import AWS_ERRORS
from shared.errors import Unavailable
from shared.stores.media import MediaStore
from shared.stores.queue import JobQueue
from shared.stores.tasks import TaskStore

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    tasks_removed: int = 0
    files_removed: int = 0
    dead_jobs_failed: int = 0


class CleanupService:
    """One pass of housekeeping; safe to run from several places at once (every step is idempotent)."""

    def __init__(self, tasks: TaskStore, media: MediaStore, dead_letters: JobQueue | None, ttl_seconds: int, max_attempts: int) -> None:
        self._tasks = tasks
        self._media = media
        self._dead_letters = dead_letters
        self._ttl = ttl_seconds
        self._max_attempts = max_attempts

    def run(self, now: float | None = None, max_batches: int = 50) -> CleanupReport:
        report = CleanupReport()
        self._fail_dead_jobs(report)
        self._remove_expired(report, now if now is not None else time.time(), max_batches)
        return report

    def _remove_expired(self, report: CleanupReport, now: float, max_batches: int) -> None:
        for _ in range(max_batches):
            expired = self._tasks.expired(now=now, limit=100)
            if not expired:
                return
            for task_id in expired:
                try:
                    # Files first: if this fails the item stays and the next pass tries again.
                    report.files_removed += self._media.delete_task_files(task_id)
                    self._tasks.delete(task_id)
                    report.tasks_removed += 1
                except (Unavailable, *AWS_ERRORS):
                    log.warning("could not remove task, will retry", extra={"task_id": task_id}, exc_info=True)
                    return

    def _fail_dead_jobs(self, report: CleanupReport) -> None:
        if self._dead_letters is None:
            return
        for _ in range(10):
            jobs = self._dead_letters.receive(max_messages=10, wait_seconds=0)
            if not jobs:
                return
            for job in jobs:
                if job.task_id:
                    task = self._tasks.get(job.task_id)
                    if task is not None and task["status"] not in ("completed", "error"):
                        last = task.get("last_error") or "the worker stopped while running it"
                        attempts = max(int(task.get("attempts", 0)), self._max_attempts)
                        if self._tasks.fail(job.task_id, f"failed after {attempts} attempts: {last}", self._ttl):
                            report.dead_jobs_failed += 1
                            log.info("dead job failed", extra={"task_id": job.task_id})
                self._dead_letters.delete(job)
