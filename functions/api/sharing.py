"""The API's side of shared results: a request's cache key, and completing a request at once from a done result.

Waiting for a result in progress and taking over from a failed owner happen in the worker (functions/worker/sharing.py):
the API only labels the task with its key and queues it as usual.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.errors import Conflict
from shared.models import new_task_id
from shared.sharing import result_key, scope_for, shareable
from shared.stores.cookies import CookieStore
from shared.stores.keys import ApiKey
from shared.stores.media import MediaStore
from shared.stores.results import DONE, ResultStore
from shared.stores.tasks import TaskStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """A task completed at once from a shared result, and the size of the object it points at (for usage)."""

    task_id: str
    size: int


class SubmissionSharing:
    """Finds a request's shared result and, when one is done, stores the request as a task completed from it."""

    def __init__(self, settings: Settings, results: ResultStore, tasks: TaskStore, media: MediaStore, cookies: CookieStore | None) -> None:
        self._settings = settings
        self._results = results
        self._tasks = tasks
        self._media = media
        self._cookies = cookies

    def key_for(self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any], wanted: bool) -> str | None:
        """The request's cache key, or None when it shares nothing (setting, live recording, `cache: false`)."""
        mode = self._settings.result_sharing
        if not shareable(mode, task_type, wanted):
            return None
        # A job run with the key's own cookies may hold what only that key may see: such results stay within the key.
        own_cookies = mode == "global" and self._cookies is not None and self._cookies.info(caller.key_hash) is not None
        return result_key(task_type, url, params, scope_for(mode, caller.key_hash, own_cookies))

    def serve_cached(
        self, caller: ApiKey, key: str, task_type: str, url: str, params: dict[str, Any], webhook_url: str | None = None,
    ) -> Served | None:
        """A new task completed from the done result under `key` (no download, no job); None when there is none."""
        found = self._results.get(key)
        ttl = self._settings.task_ttl_seconds
        if found is None or found["state"] != DONE or found["expires_at"] <= time.time() + 1:
            return None
        object_task, file_name = found["object_task"], found["file_name"]
        size = self._media.size(object_task, file_name)
        if size is None:  # removed behind the table's back: download again
            return None
        # The object must outlive this task before the task exists (a task never points at a deleted object).
        if not self._results.join(key, object_task, time.time() + ttl + 60):
            return None
        for _ in range(3):
            task_id = new_task_id()
            try:
                self._tasks.create_cached(task_id, caller.key_hash, task_type, url, params, key, object_task, file_name, ttl, webhook_url)
            except Conflict:
                continue
            log.info("task served from a shared result", extra={"task_id": task_id, "object_task": object_task})
            return Served(task_id, size)
        raise Conflict("Could not allocate a task id, try again")
