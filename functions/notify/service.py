"""The notifier: one webhook event message at a time -> build the body, sign it, POST it, record the attempt and
queue the retry (or the next hop of a long wait).

Any 2xx delivers; 410 stops the retries; anything else (3xx, 4xx, 5xx, no answer) is retried after the next
WEBHOOK_RETRY_DELAYS wait, until they are used up. An event whose task has expired, or whose key was deleted, is
dropped: a task's webhook outlives neither.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable, Protocol

from shared.models import TaskStatus
from shared.stores.notify_queue import Event, NotifyQueue
from shared.stores.playlists import sign_files
from shared.stores.tasks import TaskStore, public_view
from shared.stores.webhook_secrets import WebhookSecretStore
from functions.notify.signing import sign_headers
from shared.webhooks import COMPLETED, event_body, judge
from functions.notify.sender import DeliveryError

log = logging.getLogger(__name__)


class Poster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...


class Links(Protocol):
    def path(self, task_id: str, name: str, expires: int) -> str: ...


class Presigner(Protocol):
    def presign(self, task_id: str, file_name: str, expires_in: int, attachment: bool) -> str: ...


class NotifyService:
    """Handles webhook events; every dependency is passed in (tests give a loopback receiver and fakes)."""

    def __init__(
        self,
        tasks: TaskStore,
        secrets: WebhookSecretStore,
        queue: NotifyQueue,
        sender: Poster,
        media: Presigner,
        links: Links,
        delays: tuple[int, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = tasks
        self._secrets = secrets
        self._queue = queue
        self._sender = sender
        self._media = media
        self._links = links
        self._delays = delays
        self._clock = clock

    def handle(self, event: Event) -> str:
        """Process one event message; returns what happened (for logs and tests). Store failures propagate: the
        message then comes back (and reaches the dead-letter queue if they last)."""
        extra = {"task_id": event.task_id, "webhook_id": event.webhook_id, "type": event.type, "attempt": event.attempts + 1}
        if event.wait > 0:  # a hop of a wait longer than SQS's 900 s
            self._queue.send(event)
            return "waiting"
        task = self._tasks.get(event.task_id)
        if task is None or not task.get("webhook_url"):
            log.info("webhook dropped: the task is gone", extra=extra)
            return "dropped"
        if int(task.get("wh_attempts", 0)) != event.attempts or task.get("wh_status") != "pending":
            log.info("webhook message already handled (a duplicate)", extra=extra)
            return "duplicate"
        secrets = self._secrets.signing(task["owner"])
        if not secrets:
            # Secrets exist from the first GET /webhook_secret or the first webhook task on; none: the key was deleted.
            self._tasks.record_webhook(event.task_id, event.attempts, "failed", None)
            log.info("webhook dropped: the key is gone", extra=extra)
            return "dropped"
        body = event_body(event.type, str(task.get("completed_time") or ""), self.data(task, event.type))
        headers = sign_headers(secrets, event.webhook_id, body)
        try:
            code: int | None = self._sender.post(task["webhook_url"], body, headers)
            reason = f"HTTP {code}"
        except DeliveryError as err:
            code, reason = None, str(err)
        attempts = event.attempts + 1
        outcome = judge(code, attempts, self._delays)
        if not self._tasks.record_webhook(event.task_id, event.attempts, outcome.status, code):
            log.info("webhook attempt not recorded (task gone or a duplicate)", extra=extra)
            return "duplicate"
        log.info("webhook attempt", extra={**extra, "result": reason, "outcome": outcome.status, "retry_in": outcome.retry_in})
        if outcome.retry_in is not None:
            self._queue.send(replace(event, attempts=attempts, wait=outcome.retry_in))
        return outcome.status

    def data(self, task: dict[str, Any], event_type: str) -> dict[str, Any]:
        """The event's `data`: the task's /status view, its id, and for a completed task a presigned download_url."""
        view = public_view(task)
        view.pop("webhook", None)  # the delivery's own state changes between attempts; the body must not
        expires = int(task.get("expires_at") or self._clock())
        if "file" in view:
            view["file"] = self._links.path(task["task_id"], task["file_name"], expires)
        sign_files(view, task, self._links)  # a playlist's entries and every task's `files`, as /status shows them
        data = {k: v for k, v in view.items() if v is not None}
        data["task_id"] = task["task_id"]
        if event_type == COMPLETED and task.get("status") == TaskStatus.COMPLETED.value and task.get("file_name"):
            stored_under = task.get("object_task") or task["task_id"]  # a cached task's file is the shared object it points at
            data["download_url"] = self._media.presign(stored_under, task["file_name"], max(1, expires - int(self._clock())), attachment=False)
        return data
