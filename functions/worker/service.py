"""One message, start to end: read the task, skip duplicates, claim it, run its child, settle task and message.

Claims: the task's lease holder is `<worker id>/<job id>` (the job id travels in the message and survives
put-offs). A message for a task that is finished, or that another holder is processing under a live lease,
starts no second download: a *different* job (a duplicate send) is deleted, since the holder's own message still
guarantees a retry if it dies; a redelivery of the holder's *own* job is put off until that lease would have run
out.

Put-offs: a redelivery that is not a failure (the holder is alive, the claim was refused, the task store is down,
the worker is shutting down) sends a fresh copy of the job and deletes the old message, so SQS's receive count,
which sends a message to the dead-letter queue, only counts real attempts. A shutdown also gives the task's
attempt back.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from functions.worker.heartbeat import Heartbeat
from functions.worker.jobs.child import JobProcess, Launcher
from functions.worker.jobs.cookies import OperatorCookies
from functions.worker.jobs.spec import JobSpec
from functions.worker.jobs.scratch import Scratch
from functions.worker.settings import WorkerSettings
from functions.worker.sharing import Decision, Verdict, WorkerSharing
from shared.aws import AWS_ERRORS
from shared.errors import Unavailable
from shared.models import FINISHED_STATUSES, TaskStatus
from shared.webhooks import COMPLETED, FAILED
from shared.stores.notify_queue import NotifyQueue
from shared.stores.playlists import on_entry_ended
from shared.stores.queue import Job, JobQueue
from shared.stores.tasks import TaskStore
from shared.stores.usage import UsageStore

log = logging.getLogger(__name__)

STORE_ERRORS: tuple[type[BaseException], ...] = (Unavailable, *AWS_ERRORS)
_SQS_MAX_VISIBILITY = 43200
_SETTLE_DELAYS = (0.5, 1.0, 2.0, 4.0)


class Outcome(str, enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    RETRY = "retry"
    TIMED_OUT = "timed_out"
    HANDED_BACK = "handed_back"
    DUPLICATE = "duplicate"
    WAITING = "waiting"  # for another task's download of the same result (functions/worker/sharing.py)
    SERVED = "served"  # completed from a shared result, without a download
    DROPPED = "dropped"


class Action(str, enum.Enum):
    CLAIM = "claim"
    DELETE = "delete"
    LEAVE = "leave"


@dataclass(frozen=True)
class Triage:
    action: Action
    reason: str
    delay: int = 0


def triage(task: Mapping[str, Any] | None, job: Job, holder: str, now: float) -> Triage:
    """What to do with a message, given its task as stored now."""
    if task is None:
        return Triage(Action.DELETE, "task does not exist (expired or deleted)")
    if task.get("status") in FINISHED_STATUSES:
        return Triage(Action.DELETE, f"task already {task['status']}")
    owner = str(task.get("lease_owner") or "")
    until = float(task.get("lease_until") or 0)
    if task.get("status") == TaskStatus.PROCESSING.value and until > now and owner and owner != holder:
        if owner.rsplit("/", 1)[-1] == job.ident:
            return Triage(Action.LEAVE, "redelivered while its holder runs it", delay=max(1, math.ceil(until - now) + 1))
        return Triage(Action.DELETE, "duplicate message of a task another worker is running")
    return Triage(Action.CLAIM, "ready")


@dataclass
class RunningJob:
    """A job this worker holds: the heartbeat keeps its message and lease alive until it is settled."""

    job: Job
    task_id: str
    holder: str
    limit: float = 0.0
    process: JobProcess | None = None
    abort_reason: str | None = None
    active: bool = False  # claimed and not yet settling: the heartbeat may extend it
    message_gone: bool = False  # put off (a fresh copy is on its way): the heartbeat renews only the lease
    task: dict[str, Any] | None = None  # the claimed task (a playlist entry's end is recorded in its playlist)
    webhook: bool = False  # the task has a webhook_url: settling it queues an event for the notifier
    result_key: str | None = None  # the shared result this job downloads for (its waiters are completed with it)
    owner: str = ""  # the key digest of the claimed task, for its usage totals
    lock: threading.Lock = field(default_factory=threading.Lock)  # state: short holds only
    beat_lock: threading.Lock = field(default_factory=threading.Lock)  # a heartbeat's AWS calls vs. settling

    def abort(self, reason: str) -> None:
        """Stop the job for `reason` (timeout, shutdown, lease_lost); the first reason wins."""
        with self.lock:
            if self.abort_reason is None:
                self.abort_reason = reason
            process = self.process
        if process is not None:
            process.kill()


class Registry:
    """The jobs this worker holds, by task id (one per task: a second message for it is a duplicate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, RunningJob] = {}

    def reserve(self, job: Job, holder: str) -> tuple[RunningJob, bool]:
        """The entry for job's task and whether it was created now (False: this worker already holds the task)."""
        with self._lock:
            existing = self._jobs.get(job.task_id)
            if existing is not None:
                return existing, False
            entry = RunningJob(job=job, task_id=job.task_id, holder=holder)
            self._jobs[job.task_id] = entry
            return entry, True

    def remove(self, entry: RunningJob) -> None:
        with self._lock:
            if self._jobs.get(entry.task_id) is entry:
                del self._jobs[entry.task_id]

    def snapshot(self) -> list[RunningJob]:
        with self._lock:
            return list(self._jobs.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


def time_limit(task: Mapping[str, Any], settings: WorkerSettings) -> float:
    """Seconds a job may run: JOB_TIMEOUT, or a live recording's duration plus LIVE_TIMEOUT_MARGIN."""
    if task.get("task_type") in ("get_live_video", "get_live_audio"):
        try:
            duration = float((task.get("params") or {}).get("duration") or 0)
        except (TypeError, ValueError):
            duration = 0.0
        if duration > 0:
            return duration + settings.live_timeout_margin
    return float(settings.job_timeout)


class JobService:
    """Processes one message at a time per calling thread; the loop calls it from one thread per job."""

    def __init__(
        self,
        settings: WorkerSettings,
        tasks: TaskStore,
        queue: JobQueue,
        launcher: Launcher,
        scratch: Scratch,
        worker_id: str,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = time.sleep,
        heartbeat_tasks: TaskStore | None = None,
        heartbeat_queue: JobQueue | None = None,
        notify: NotifyQueue | None = None,
        sharing: WorkerSharing | None = None,
        usage: UsageStore | None = None,
    ) -> None:
        self._settings = settings
        self._tasks = tasks
        self._queue = queue
        self._launcher = launcher
        self._scratch = scratch
        self.worker_id = worker_id
        self.registry = registry or Registry()
        self._clock = clock
        self._sleep = sleep
        # The heartbeat's stores may use clients with shorter timeouts than the settling calls.
        self._beat_tasks = heartbeat_tasks or tasks
        self._beat_queue = heartbeat_queue or queue
        self._heartbeat = Heartbeat(settings.max_workers)
        self.stopping = threading.Event()
        self._cookies = OperatorCookies(settings)
        self._notify = notify
        self._sharing = sharing
        self._usage = usage

    # -- one message

    def process(self, job: Job) -> Outcome:
        """Handle one received message to the end (or hand it back)."""
        extra = {"task_id": job.task_id, "message_id": job.message_id, "receive_count": job.receive_count}
        if not job.task_id:
            log.warning("malformed message dropped", extra=extra)
            self._settle("delete malformed message", lambda: self._queue.delete(job))
            return Outcome.DROPPED
        holder = f"{self.worker_id}/{job.ident}"
        entry, created = self.registry.reserve(job, holder)
        if not created:
            return self._local_duplicate(entry, job, extra)
        try:
            return self._process(entry, job, extra)
        finally:
            self.registry.remove(entry)
            self._scratch.remove_job_dir(job.task_id)

    def _local_duplicate(self, entry: RunningJob, job: Job, extra: dict[str, Any]) -> Outcome:
        if entry.job.ident == job.ident:
            if job.receive_count > 1:
                # A hiccup let the message reappear: start it afresh so the hiccup costs no attempt.
                log.info("message redelivered while this worker runs it; put off", extra=extra)
                with entry.beat_lock:
                    done = self._settle("put off", lambda: self._queue.put_off(job, self._settings.visibility_timeout))
                    if done is not None or not entry.message_gone:
                        entry.job, entry.message_gone = job, done is not None
                return Outcome.DUPLICATE
            with entry.beat_lock:
                entry.job, entry.message_gone = job, False  # the newest receipt handle is the one SQS honours
            log.info("message redelivered while this worker runs it", extra=extra)
        else:
            log.info("duplicate message deleted (this worker runs the task)", extra=extra)
            self._settle("delete duplicate", lambda: self._queue.delete(job))
        return Outcome.DUPLICATE

    def _process(self, entry: RunningJob, job: Job, extra: dict[str, Any]) -> Outcome:
        try:
            task = self._tasks.get(job.task_id)
            decision = triage(task, job, entry.holder, self._clock())
            claimed = None
            if decision.action is Action.CLAIM and task is not None and task.get("result_key") and self._sharing is not None:
                shared = self._sharing.resolve(task)
                if shared.verdict is not Verdict.RUN:
                    return self._settle_shared(job, shared, extra)
            if decision.action is Action.CLAIM:
                claimed = self._tasks.start(job.task_id, entry.holder, self._settings.visibility_timeout)
                if claimed is None:  # someone else got there between our read and our claim
                    decision = triage(self._tasks.get(job.task_id), job, entry.holder, self._clock())
                    if decision.action is Action.CLAIM:
                        decision = Triage(Action.LEAVE, "claim refused", delay=self._backoff(1))
        except STORE_ERRORS as err:
            # The task store is down: the job comes back later, without using up an attempt.
            delay = self._backoff(1)
            log.warning("task store unavailable, message put off", extra={**extra, "error": str(err), "retry_in": delay})
            self._settle("back off", lambda: self._queue.put_off(job, delay))
            return Outcome.RETRY
        if claimed is None:
            log.info("message not run", extra={**extra, "action": decision.action.value, "reason": decision.reason})
            if decision.action is Action.DELETE:
                self._settle("delete", lambda: self._queue.delete(job))
            else:
                self._settle("put off", lambda: self._queue.put_off(job, decision.delay))
            return Outcome.DUPLICATE
        return self._run_claimed(entry, claimed, extra)

    def _settle_shared(self, job: Job, shared: Decision, extra: dict[str, Any]) -> Outcome:
        """A task served from, or waiting for, a shared result: no download, no attempt used."""
        log.info("shared result", extra={**extra, "verdict": shared.verdict.value, "reason": shared.reason})
        if shared.verdict is Verdict.SERVED:
            self._settle("delete message", lambda: self._queue.delete(job))
            return Outcome.SERVED
        self._settle("put off", lambda: self._queue.put_off(job, shared.delay))
        return Outcome.WAITING

    def _run_claimed(self, entry: RunningJob, task: dict[str, Any], extra: dict[str, Any]) -> Outcome:
        entry.result_key = task.get("result_key") if self._sharing is not None else None
        attempts = int(task.get("attempts") or 1)
        entry.task = task
        entry.owner = str(task.get("owner") or "")
        extra = {**extra, "attempt": attempts, "task_type": task.get("task_type")}
        entry.webhook = bool(task.get("webhook_url"))
        if attempts > self._settings.max_attempts:
            # Earlier attempts died with their worker; this delivery only exists to close the task.
            last = task.get("last_error") or "the worker stopped while running it"
            return self._fail(entry, f"failed after {self._settings.max_attempts} attempts: {last}", extra)
        if self.stopping.is_set():
            return self._hand_back(entry, extra)
        entry.limit = time_limit(task, self._settings)
        spec = JobSpec(task=task, settings=self._settings, job_dir=str(self._scratch.job_dir(entry.task_id)), operator_cookies=self._cookies.get())
        started = time.monotonic()
        # The heartbeat keeps message and lease alive while the child starts too: a start slower than the
        # visibility window (a loaded machine) must not let another worker claim the task a second time.
        with entry.lock:
            entry.active = True
        try:
            process = self._launcher.start(spec)
        except Exception as err:  # e.g. the forkserver could not fork: worth another attempt elsewhere
            with entry.beat_lock:
                entry.active = False
            log.exception("could not start the job's process", extra=extra)
            return self._retry_or_fail(entry, attempts, f"could not start the job's process: {err}", extra)
        with entry.lock:
            entry.process = process
            entry.active = True
            aborted = entry.abort_reason is not None
        log.info("job running", extra={**extra, "pid": process.pid, "time_limit": entry.limit})
        if aborted:
            process.kill()
        if not process.wait(entry.limit):
            entry.abort("timeout")
            process.wait(None)
        with entry.beat_lock:
            entry.active = False  # from here on the heartbeat leaves this message alone
        # The job's process group has ended: its scratch goes before the task is settled, so a task seen ended
        # has freed its disk (process() removes it again on every other path).
        self._scratch.remove_job_dir(entry.task_id)
        seconds = round(time.monotonic() - started, 2)
        reason = entry.abort_reason
        result = process.result
        if reason == "shutdown":
            return self._hand_back(entry, extra)
        if reason == "lease_lost":
            log.warning("lease lost: another worker took the task over", extra=extra)
            return Outcome.DROPPED
        if reason == "timeout":
            return self._fail(entry, f"timed out after {_seconds_text(entry.limit)} seconds", extra, Outcome.TIMED_OUT)
        if result is None:
            error = f"the job's process exited unexpectedly (exit code {process.exitcode})"
            return self._retry_or_fail(entry, attempts, error, extra)
        if result.get("status") == "completed":
            return self._complete(
                entry, str(result["file_name"]), {**extra, "seconds": seconds}, list(result.get("files") or []),
                share=not result.get("live"), size=int(result.get("bytes") or 0),
            )
        if result.get("status") == "fanned_out":
            return self._fanned_out(entry, {**extra, "seconds": seconds, "entries": result.get("entries")})
        if result.get("permanent"):
            return self._fail(entry, str(result.get("error") or "failed"), extra)
        return self._retry_or_fail(entry, attempts, str(result.get("error") or "failed"), extra)

    # -- settling

    def _complete(
        self, entry: RunningJob, file_name: str, extra: dict[str, Any], files: list[str] | None = None, share: bool = True, size: int = 0,
    ) -> Outcome:
        if not self._entry_ended(entry, True, file_name=file_name, files=files):
            return Outcome.RETRY
        done = self._settle("complete task", lambda: self._tasks.complete(entry.task_id, file_name, self._settings.task_ttl_seconds, entry.holder, **({"files": files} if files else {})))
        self._announce(entry, done, COMPLETED)
        if done and entry.result_key and self._sharing is not None:
            sharing, key = self._sharing, entry.result_key
            if share:
                self._settle("publish shared result", lambda: sharing.publish(key, entry.task_id, file_name))
            else:  # a live recording: each waiter records for itself
                self._settle("release shared result", lambda: sharing.release(key, entry.task_id))
        if done:  # counted by the holder whose write finished the task: once, however often the job ran
            self._count(entry, completed=1, bytes=size)
        if not self._finish_message(entry, done, extra):
            return Outcome.RETRY
        log.info("job completed", extra={**extra, "file_name": file_name})
        return Outcome.COMPLETED

    def _fail(self, entry: RunningJob, error: str, extra: dict[str, Any], outcome: Outcome = Outcome.FAILED) -> Outcome:
        log.info("job failed", extra={**extra, "error": error})
        if not self._entry_ended(entry, False, error=error):
            return Outcome.RETRY
        done = self._settle("fail task", lambda: self._tasks.fail(entry.task_id, error, self._settings.task_ttl_seconds, entry.holder))
        self._announce(entry, done, FAILED)
        if done and entry.result_key and self._sharing is not None:  # the waiters are not failed with it: one takes over
            sharing, key = self._sharing, entry.result_key
            self._settle("release shared result", lambda: sharing.release(key, entry.task_id))
        if done:
            self._count(entry, failed=1)
        if not self._finish_message(entry, done, extra):
            return Outcome.RETRY
        return outcome

    def _entry_ended(self, entry: RunningJob, ok: bool, **outcome: Any) -> bool:
        """A playlist entry's end goes into its playlist first (once, whatever the redeliveries); False: the store is down."""
        task = entry.task or {}
        if not task.get("playlist_id"):
            return True
        ttl = self._settings.task_ttl_seconds
        settled: list[str | None] = []
        done = self._settle("record playlist entry", lambda: settled.append(on_entry_ended(self._tasks.playlists, self._queue, task, ok, ttl, **outcome)) or True)
        if done is None:
            log.error("playlist entry outcome not recorded; message left for a retry", extra={"task_id": entry.task_id})
            return False
        if settled and settled[0] in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value):
            self._announce_playlist(str(task["playlist_id"]), settled[0])
        return True

    def _announce_playlist(self, playlist_id: str, status: str) -> None:
        """This entry's end settled its playlist: the playlist's one webhook event leaves now (entries have none)."""
        if self._notify is None:
            return
        notify = self._notify
        playlist = self._settle("read playlist", lambda: self._tasks.get(playlist_id))
        if playlist and playlist.get("webhook_url"):
            event = COMPLETED if status == TaskStatus.COMPLETED.value else FAILED
            self._settle("queue webhook", lambda: notify.announce(playlist_id, event))

    def _fanned_out(self, entry: RunningJob, extra: dict[str, Any]) -> Outcome:
        """The playlist's entries are queued: it stays processing without a lease, its entries carry it on."""
        self._settle("detach playlist", lambda: self._tasks.playlists.detach(entry.task_id, entry.holder))
        if not entry.message_gone:
            self._settle("delete message", lambda: self._queue.delete(entry.job))
        log.info("playlist fanned out", extra=extra)
        return Outcome.COMPLETED

    def _announce(self, entry: RunningJob, done: bool | None, event_type: str) -> None:
        """Queue the task's webhook event once this holder's outcome is recorded; the notifier delivers it (never
        this job: a slow receiver must not hold a download slot)."""
        if done is True and entry.webhook and self._notify is not None:
            notify = self._notify
            self._settle("queue webhook", lambda: notify.announce(entry.task_id, event_type))

    def _count(self, entry: RunningJob, **counts: int) -> None:
        if self._usage is None or not entry.owner:
            return
        if (entry.task or {}).get("phase"):
            # A fanned-out playlist's usage is its entries' (each counted as it ends): its archive or its end adds
            # nothing. A playlist that fails before it has entries counts as one failed task.
            return
        self._usage.add(entry.owner, **counts)

    def _finish_message(self, entry: RunningJob, done: bool | None, extra: dict[str, Any]) -> bool:
        """Delete the message once the task is finished; keep it while the task may still need this job."""
        if done is None:
            # The task store did not take the outcome: the message comes back and the job runs again.
            log.error("task outcome not recorded; message left for a retry", extra=extra)
            return False
        if done is False:
            task = self._settle("read task", lambda: self._tasks.get(entry.task_id))
            if task is not None and task.get("status") not in FINISHED_STATUSES:
                log.warning("task taken over by another holder; its message is left to it", extra=extra)
                return False
        if not entry.message_gone:  # else the fresh copy comes back, finds the task finished and is deleted
            self._settle("delete message", lambda: self._queue.delete(entry.job))
        return True

    def _retry_or_fail(self, entry: RunningJob, attempts: int, error: str, extra: dict[str, Any]) -> Outcome:
        if attempts >= self._settings.max_attempts:
            return self._fail(entry, f"failed after {attempts} attempts: {error}", extra)
        delay = self._backoff(attempts)
        log.info("job will be retried", extra={**extra, "error": error, "retry_in": delay})
        self._settle("requeue task", lambda: self._tasks.requeue(entry.task_id, entry.holder, error))
        self._settle("back off", lambda: self._queue.extend(entry.job, delay))
        return Outcome.RETRY

    def _hand_back(self, entry: RunningJob, extra: dict[str, Any]) -> Outcome:
        log.info("job handed back for another worker", extra=extra)
        self._settle("release task", lambda: self._tasks.release(entry.task_id, entry.holder))
        if not entry.message_gone:
            self._settle("hand back message", lambda: self._queue.put_off(entry.job, 0))
        return Outcome.HANDED_BACK

    def _settle(self, what: str, call: Callable[[], Any]) -> Any:
        """Run a store call, retrying AWS failures briefly; give up with a log (the message comes back anyway)."""
        for delay in (*_SETTLE_DELAYS, None):
            try:
                return call()
            except STORE_ERRORS as err:
                if delay is None:
                    log.error("could not settle job, giving up", extra={"step": what, "error": str(err)})
                    return None
                log.warning("settling failed, retrying", extra={"step": what, "error": str(err), "retry_in": delay})
                self._sleep(delay)
        return None

    def _backoff(self, attempts: int) -> int:
        return min(_SQS_MAX_VISIBILITY, max(0, math.ceil(self._settings.retry_backoff * max(1, attempts))))

    # -- called by the loop

    def keep_alive(self) -> None:
        """Heartbeat: renew the lease and extend the message of every running job, each on its own thread."""
        # Each renewal ends by its clients' own timeouts; waiting longer here would only delay the health file.
        timeout = min(max(1.0, self._settings.heartbeat_interval), 20.0)
        self._heartbeat.beat(self.registry.snapshot(), self._keep_one_alive, key=lambda e: e.task_id, timeout=timeout)

    def _keep_one_alive(self, entry: RunningJob) -> None:
        with entry.beat_lock:
            if not entry.active or entry.abort_reason is not None:
                return
            try:
                owned = self._beat_tasks.renew_lease(entry.task_id, entry.holder, self._settings.visibility_timeout)
                if owned and not entry.message_gone:
                    if self._beat_queue.extend(entry.job, self._settings.visibility_timeout) is False:
                        entry.message_gone = True  # put off by another worker; its fresh copy comes back to us
            except STORE_ERRORS as err:
                log.warning("heartbeat failed, will retry", extra={"task_id": entry.task_id, "error": str(err)})
                return
        if not owned:
            entry.abort("lease_lost")

    def abort_all(self, reason: str) -> int:
        """Stop every running job for `reason`; returns how many."""
        entries = self.registry.snapshot()
        for entry in entries:
            entry.abort(reason)
        return len(entries)


def _seconds_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
