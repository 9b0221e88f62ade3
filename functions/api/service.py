"""The API's rules: who may do what, and how a task is accepted (stored, then queued, never half-done)."""

from __future__ import annotations

import logging
from typing import Any

from shared.config import Settings
from shared.errors import Conflict, Forbidden, ServiceError
from shared.models import new_task_id
from shared.stores.cookies import CookieStore
from shared.stores.keys import ApiKey, KeyStore
from shared.stores.queue import JobQueue
from shared.stores.rate_limits import RateLimitStore
from shared.stores.tasks import TaskStore
from shared.urls import Resolver, check_url

log = logging.getLogger(__name__)


class TaskService:
    """Accepts task submissions: URL check, rate limit, store, queue."""

    def __init__(self, settings: Settings, tasks: TaskStore, queue: JobQueue, limits: RateLimitStore, resolver: Resolver) -> None:
        self._settings = settings
        self._tasks = tasks
        self._queue = queue
        self._limits = limits
        self._resolver = resolver

    def submit(self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any]) -> str:
        """Accept a task for `caller`; returns its id. Nothing is left behind when any step fails."""
        check_url(url, self._settings.allow_private_networks, self._resolver)
        window = self._settings.task_cleanup_time * 60
        slot, taken_at = self._limits.acquire(caller.key_hash, self._settings.request_limit, window)
        try:
            task_id = self._store(caller, task_type, url, params)
        except ServiceError:
            self._limits.release(caller.key_hash, slot, taken_at)
            raise
        try:
            self._queue.send(task_id)
        except ServiceError:
            # The client hears 503 and gets no id: take the task back so it does not wait forever.
            log.warning("queueing failed, withdrawing task", extra={"task_id": task_id})
            try:
                self._tasks.delete(task_id)
            finally:
                self._limits.release(caller.key_hash, slot, taken_at)
            raise
        log.info("task accepted", extra={"task_id": task_id, "task_type": task_type, "key_name": caller.name})
        return task_id

    def _store(self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any]) -> str:
        for _ in range(3):
            task_id = new_task_id()
            try:
                self._tasks.create(task_id, caller.key_hash, task_type, url, params)
                return task_id
            except Conflict:  # 95 random bits: practically never, but never overwrite a task
                continue
        raise Conflict("Could not allocate a task id, try again")


class KeyService:
    """Key management with the rule that nobody grants what they do not hold."""

    def __init__(self, keys: KeyStore, cookies: CookieStore | None = None) -> None:
        self._keys = keys
        self._cookies = cookies

    def create(self, caller: ApiKey, name: str, permissions: list[str]) -> str:
        missing = sorted(set(permissions) - set(caller.permissions))
        if missing:
            raise Forbidden(f"You cannot grant permissions you do not have: {', '.join(missing)}")
        # Keep the caller's order, drop repeats.
        key = self._keys.create(name, list(dict.fromkeys(permissions)))
        log.info("key created", extra={"key_name": name, "by": caller.name})
        return key

    def delete(self, caller: ApiKey, name: str) -> None:
        target = self._keys.find(name)
        if target is not None and target.has("create_key") and self._is_last_key_manager(target):
            raise Conflict("Cannot delete the last key that holds create_key")
        self._keys.delete(name)
        if target is not None and self._cookies is not None:
            # The key is gone first: its cookies can no longer be used, even if this delete fails (503, retried).
            self._cookies.delete(target.key_hash)
        log.info("key deleted", extra={"key_name": name, "by": caller.name})

    def _is_last_key_manager(self, target: ApiKey) -> bool:
        return not any(r.has("create_key") for r in self._keys.records() if r.name != target.name)
