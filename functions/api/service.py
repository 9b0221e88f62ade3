"""The API's rules: who may do what, and how a task is accepted (stored, then queued, never half-done)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from functions.api.sharing import SubmissionSharing
from shared import logs
from shared.config import Settings
from shared.errors import BadRequest, Conflict, Forbidden, ServiceError
from shared.models import new_task_id
from shared.stores.cookies import CookieStore
from shared.stores.keys import ApiKey, KeyStore
from shared.stores.notify_queue import NotifyQueue
from shared.stores.queue import JobQueue
from shared.stores.rate_limits import Quota, RateLimitStore
from shared.stores.tasks import TaskStore
from shared.stores.webhook_secrets import WebhookSecretStore
from shared.webhooks import COMPLETED
from shared.stores.usage import UsageStore
from shared.urls import Resolver, bounded, check_host, split_host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """An accepted submission: the task's id and the key's rate-limit standing after it."""

    task_id: str
    quota: Quota
    cached: bool = False  # completed at once from a shared result


class TaskService:
    """Accepts task submissions: URL check, rate limit, store, queue."""

    def __init__(
        self, settings: Settings, tasks: TaskStore, queue: JobQueue, limits: RateLimitStore, resolver: Resolver,
        webhook_secrets: WebhookSecretStore | None = None,
        sharing: SubmissionSharing | None = None,
        notify: NotifyQueue | None = None,
        usage: UsageStore | None = None,
    ) -> None:
        self._settings = settings
        self._webhook_secrets = webhook_secrets
        self._tasks = tasks
        self._queue = queue
        self._limits = limits
        self._resolver = bounded(resolver, settings.dns_timeout)
        self._sharing = sharing
        self._notify = notify
        self._usage = usage

    def submit(self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any], webhook_url: str | None = None) -> Accepted:
        """Accept a task for `caller`. Nothing is left behind when any step fails."""
        return self.accept(caller, task_type, url, params, webhook_url=webhook_url)

    def accept(
        self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any], share: bool = True, webhook_url: str | None = None,
    ) -> Accepted:
        """Accept a task for `caller`; `cached` says a shared result completed it at once. Nothing is left behind when any step fails."""
        _, host, port = split_host(url)
        hook = _webhook_host(webhook_url)
        self._check_length(task_type, params)
        # The rate limit comes before the DNS lookup (bounded too), so slow names cannot tie up the API unmetered.
        quota = self._limits.acquire(caller.key_hash, caller.limit(self._settings.request_limit), self.window_seconds)
        try:
            if not self._settings.allow_private_networks:
                check_host(host, port, self._resolver)
                if hook is not None:
                    try:
                        check_host(*hook, self._resolver)
                    except BadRequest as err:
                        raise BadRequest(f"webhook_url: {err.message}") from None
            if webhook_url and self._webhook_secrets is not None:
                self._webhook_secrets.get_or_create(caller.key_hash)  # the notifier signs with it (none: the key is gone)
            key = self._sharing.key_for(caller, task_type, url, params, share) if self._sharing else None
            cached = self._sharing.serve_cached(caller, key, task_type, url, params, webhook_url) if self._sharing and key else None
            if cached is not None:  # counted against the rate limit like any task, but no job is queued
                logs.bind(task_id=cached.task_id)
                log.info("task accepted", extra={"task_id": cached.task_id, "task_type": task_type, "key_name": caller.name, "cached": True})
                if webhook_url and self._notify is not None:  # it is completed: its webhook leaves now, as for a download
                    self._notify.announce(cached.task_id, COMPLETED)
                if self._usage is not None:
                    self._usage.add(caller.key_hash, tasks=1, completed=1, cached=1, bytes=cached.size)
                return Accepted(cached.task_id, quota, cached=True)
            task_id = self._store(caller, task_type, url, params, webhook_url, key)
            logs.bind(task_id=task_id)
        except ServiceError:
            self._limits.release(caller.key_hash, quota)
            raise
        try:
            self._queue.send(task_id)
        except ServiceError:
            # The client hears 503 and gets no id: take the task back so it does not wait forever.
            log.warning("queueing failed, withdrawing task", extra={"task_id": task_id})
            try:
                self._tasks.delete(task_id)
            finally:
                self._limits.release(caller.key_hash, quota)
            raise
        if self._usage is not None:
            self._usage.add(caller.key_hash, tasks=1)
        log.info("task accepted", extra={"task_id": task_id, "task_type": task_type, "key_name": caller.name})
        return Accepted(task_id, quota)

    @property
    def window_seconds(self) -> float:
        """The rate-limit window: TASK_CLEANUP_TIME minutes, as in the original."""
        return self._settings.task_cleanup_time * 60

    def standing(self, key: ApiKey) -> Quota:
        """`key`'s rate-limit standing now, without taking a slot."""
        return self._limits.standing(key.key_hash, key.limit(self._settings.request_limit), self.window_seconds)

    def _check_length(self, task_type: str, params: dict[str, Any]) -> None:
        """MAX_DURATION, where the request already says how long the media is: a clip's end minus its start."""
        end = params.get("end_time")
        if task_type in ("get_video", "get_audio") and end is not None:
            length = end - (params.get("start_time") or 0)
            if length > self._settings.max_duration:
                raise BadRequest(f"The clip is {length:g} s long; this server allows at most {self._settings.max_duration:g} s")

    def _store(
        self, caller: ApiKey, task_type: str, url: str, params: dict[str, Any], webhook_url: str | None = None, key: str | None = None,
    ) -> str:
        for _ in range(3):
            task_id = new_task_id()
            try:
                extra = {"webhook_url": webhook_url} if webhook_url else {}
                self._tasks.create(
                    task_id, caller.key_hash, task_type, url, params, waiting_seconds=self._settings.waiting_timeout, result_key=key, **extra,
                )
                return task_id
            except Conflict:  # 95 random bits: practically never, but never overwrite a task
                continue
        raise Conflict("Could not allocate a task id, try again")


def _webhook_host(webhook_url: str | None) -> tuple[str, int] | None:
    """(host, port) of a webhook URL, checked like a media URL's syntax; BadRequest naming the field."""
    if webhook_url is None:
        return None
    try:
        _, host, port = split_host(webhook_url)
    except BadRequest as err:
        raise BadRequest(f"webhook_url: {err.message}") from None
    return host, port


class KeyService:
    """Key management with the rule that nobody grants what they do not hold."""

    def __init__(
        self, keys: KeyStore, cookies: CookieStore | None = None, webhook_secrets: WebhookSecretStore | None = None,
        usage: UsageStore | None = None,
    ) -> None:
        self._keys = keys
        self._cookies = cookies
        self._webhook_secrets = webhook_secrets
        self._usage = usage

    def create(self, caller: ApiKey, name: str, permissions: list[str], request_limit: int | None = None) -> str:
        missing = sorted(set(permissions) - set(caller.permissions))
        if missing:
            raise Forbidden(f"You cannot grant permissions you do not have: {', '.join(missing)}")
        # Keep the caller's order, drop repeats.
        key = self._keys.create(name, list(dict.fromkeys(permissions)), request_limit=request_limit)
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
        if target is not None and self._webhook_secrets is not None:
            self._webhook_secrets.delete(target.key_hash)  # its pending webhooks are dropped with them
        if target is not None and self._usage is not None:
            self._usage.delete(target.key_hash)
        log.info("key deleted", extra={"key_name": name, "by": caller.name})

    def _is_last_key_manager(self, target: ApiKey) -> bool:
        return not any(r.has("create_key") for r in self._keys.records() if r.name != target.name)
