"""The worker's side of shared results: one download per cache key, the others wait for it or are served from it.

Before a task labelled with a result key is claimed, `resolve` decides:
- RUN: this task owns the result (it claimed it, or took it over from an owner that failed or vanished), or the
  result cannot be shared right now (an expired item the cleanup has not removed yet): download.
- SERVED: the result is done; the task was completed from it (its files are the owner's object).
- WAIT: another task downloads it; the message comes back after `delay` seconds (no attempt is used up).
After the owner's download `publish` makes the result done and completes the waiters at once; when the owner fails
for good `release` drops the claim, so a waiter claims it anew (a failure is never passed on to the waiters).
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from shared.models import TaskStatus
from shared.errors import Unavailable
from shared.stores.results import DONE, ResultStore
from shared.stores.tasks import TaskStore

log = logging.getLogger(__name__)

# A waiter looks again after a tenth of the time it has waited, within these bounds (the owner's publish completes it
# at once; the look is for taking over from an owner that failed).
MIN_POLL, MAX_POLL = 2, 30
# The object outlives the tasks completed with it by this margin (their expiries are taken a moment later).
EXPIRY_MARGIN = 60


class Verdict(str, enum.Enum):
    RUN = "run"
    SERVED = "served"
    WAIT = "wait"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    delay: int = 0


class WorkerSharing:
    """Single flight over the shared-results table, for the worker's JobService."""

    def __init__(
        self, results: ResultStore, tasks: TaskStore, ttl_seconds: int, waiting_seconds: int, clock: Callable[[], float] = time.time,
        on_completed: Callable[[str], None] | None = None,
    ) -> None:
        self._on_completed = on_completed  # a task completed from the result: its webhook is announced like any other
        self._results = results
        self._tasks = tasks
        self._ttl = ttl_seconds
        self._waiting = waiting_seconds
        self._clock = clock

    def resolve(self, task: Mapping[str, Any]) -> Decision:
        """What to do with an unfinished task that has a result key (a few single-item conditional writes)."""
        key, task_id = str(task["result_key"]), str(task["task_id"])
        for _ in range(4):  # each lost race re-reads: someone else moved the item on
            now = self._clock()
            item = self._results.get(key)
            if item is None:
                if self._results.claim(key, task_id, now + self._waiting):
                    return Decision(Verdict.RUN, "owner: claimed the result")
                continue
            if item["state"] == DONE:
                if item["expires_at"] <= now + 1:
                    return Decision(Verdict.RUN, "the shared result has expired: download without sharing")
                if not self._results.join(key, item["object_task"], now + self._ttl + EXPIRY_MARGIN, now=now):
                    continue
                if self._tasks.complete_cached(task_id, item["object_task"], item["file_name"], self._ttl):
                    self._completed(task_id)
                return Decision(Verdict.SERVED, "served from the shared result")
            owner = str(item.get("owner_task") or "")
            if owner == task_id:
                return Decision(Verdict.RUN, "owner")
            decision = self._wait_or_take_over(key, item, owner, task, now)
            if decision is not None:
                return decision
        return Decision(Verdict.WAIT, "the shared result keeps changing", delay=MIN_POLL)

    def _wait_or_take_over(self, key: str, item: Mapping[str, Any], owner: str, task: Mapping[str, Any], now: float) -> Decision | None:
        task_id = str(task["task_id"])
        owner_task = self._tasks.get(owner) if owner else None
        status = owner_task.get("status") if owner_task else None
        if status == TaskStatus.COMPLETED.value and owner_task is not None:
            # The owner finished but stopped before publishing: publish for it, then take the done result.
            self._publish_for(key, owner, str(owner_task["file_name"]))
            return None
        if status in (TaskStatus.WAITING.value, TaskStatus.PROCESSING.value):
            if not self._results.add_waiter(key, task_id):
                return None
            # A waiter is not a lost job: it keeps its cleanup check ahead while it waits.
            self._tasks.postpone_check(task_id, now + self._waiting)
            waited = max(0.0, now - float(task.get("created_at") or now))
            delay = int(min(MAX_POLL, max(MIN_POLL, waited / 10)))
            return Decision(Verdict.WAIT, f"waiting for {owner}'s download", delay=delay)
        # The owner failed, expired or never existed: this waiter downloads instead.
        if self._results.take_over(key, owner, task_id, now + self._waiting):
            log.info("shared result taken over from a failed owner", extra={"task_id": task_id, "failed_owner": owner})
            return Decision(Verdict.RUN, f"owner: took over from {owner} ({status or 'gone'})")
        return None

    def publish(self, key: str, task_id: str, file_name: str) -> int:
        """The owner's object is stored and its task completed: the result is done; returns how many waiters it completed."""
        return self._publish_for(key, task_id, file_name)

    def _publish_for(self, key: str, owner: str, file_name: str) -> int:
        waiters = self._results.publish(key, owner, file_name, self._clock() + self._ttl + EXPIRY_MARGIN)
        completed = 0
        for waiter in waiters or ():
            if self._tasks.complete_cached(waiter, owner, file_name, self._ttl):
                completed += 1
                self._completed(waiter)
        if waiters is not None:
            log.info("shared result published", extra={"task_id": owner, "waiters_completed": completed})
        return completed

    def _completed(self, task_id: str) -> None:
        if self._on_completed is None:
            return
        try:
            self._on_completed(task_id)
        except Unavailable as err:  # the other waiters must still be completed; this event alone is lost
            log.warning("webhook event for a served task not queued", extra={"task_id": task_id, "error": str(err)})

    def release(self, key: str, task_id: str) -> None:
        """The owner failed for good: give the result up so that a waiter downloads it."""
        if self._results.release(key, task_id):
            log.info("shared result released by its failed owner", extra={"task_id": task_id})

