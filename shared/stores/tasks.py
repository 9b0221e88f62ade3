"""Tasks in DynamoDB: one item per task, keyed by its id, expiring TASK_CLEANUP_TIME minutes after it finishes."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.errors import Conflict
from shared.models import TaskStatus
from shared.stores import applied, unavailable_on_failure
from shared.stores.playlists import PlaylistStore, entries_of, now_iso, playlist_view  # now_iso: defined once, used by both


class TaskStore:
    """Reads and writes task items; the worker and the cleanup use the same store."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @property
    def playlists(self) -> PlaylistStore:
        """The playlist-specific writes, on the same client and table."""
        return PlaylistStore(self._db, self._table)

    # -- API side

    def create(
        self, task_id: str, owner: str, task_type: str, url: str, params: dict[str, Any], waiting_seconds: int | None = None,
        webhook_url: str | None = None,
        result_key: str | None = None,
    ) -> dict[str, Any]:
        """Store a new waiting task; Conflict if the id is taken.

        With `waiting_seconds`, the task is due for the cleanup's look that long after it was made: by then it
        has finished, or it is running under a live lease, or its job was lost and the cleanup fails it.
        """
        now = time.time()
        item = {
            "task_id": {"S": task_id},
            "owner": {"S": owner},
            "status": {"S": TaskStatus.WAITING.value},
            "task_type": {"S": task_type},
            "url": {"S": url},
            "params": {"S": json.dumps(params)},
            "created_at": {"N": repr(now)},
            "attempts": {"N": "0"},
        }
        if webhook_url:  # its delivery state lives (and expires) with the task
            item.update({"webhook_url": {"S": webhook_url}, "wh_status": {"S": "pending"}, "wh_attempts": {"N": "0"}})
        if waiting_seconds is not None:
            item["expires_at"] = {"N": str(int(now + waiting_seconds))}
            item["gc"] = {"S": "1"}
        if result_key is not None:  # it shares its result (shared/stores/results.py)
            item["result_key"] = {"S": result_key}
        return self._put_new(item)

    def create_cached(
        self, task_id: str, owner: str, task_type: str, url: str, params: dict[str, Any], result_key: str, object_task: str,
        file_name: str, ttl_seconds: int, webhook_url: str | None = None,
    ) -> dict[str, Any]:
        """Store a task completed at once from a shared result: its files are `object_task`'s; Conflict if the id is taken."""
        now = time.time()
        item = {
            "task_id": {"S": task_id},
            "owner": {"S": owner},
            "status": {"S": TaskStatus.COMPLETED.value},
            "task_type": {"S": task_type},
            "url": {"S": url},
            "params": {"S": json.dumps(params)},
            "created_at": {"N": repr(now)},
            "attempts": {"N": "0"},
            "completed_time": {"S": now_iso()},
            "expires_at": {"N": str(int(now + ttl_seconds))},
            "gc": {"S": "1"},
            "file_name": {"S": file_name},
            "object_task": {"S": object_task},
            "result_key": {"S": result_key},
            "cached": {"BOOL": True},
        }
        if webhook_url:  # its task.completed event is queued by the caller; the delivery state lives with the task
            item.update({"webhook_url": {"S": webhook_url}, "wh_status": {"S": "pending"}, "wh_attempts": {"N": "0"}})
        return self._put_new(item)

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        with unavailable_on_failure("The task store"):
            try:
                self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(task_id)")
            except AWS_ERRORS as err:
                if is_condition_failure(err):
                    raise Conflict("Task id collision, try again") from err
                raise
        return _decode(item)

    def get(self, task_id: str, now: float | None = None) -> dict[str, Any] | None:
        """The task as a plain dict, or None when it does not exist or has expired."""
        with unavailable_on_failure("The task store"):
            item = self._db.get_item(TableName=self._table, Key={"task_id": {"S": task_id}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        task = _decode(item)
        # DynamoDB's TTL deletes lazily; an expired finished task is already gone as far as clients can tell.
        # (An unfinished one past its waiting deadline stays visible until the cleanup fails it.)
        finished = task.get("status") in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value)
        if finished and task.get("expires_at") is not None and task["expires_at"] <= (now if now is not None else time.time()):
            return None
        return task

    def read(self, task_id: str) -> dict[str, Any] | None:
        """The stored item even when its time is up (the cleanup needs what an expired task pointed at)."""
        with unavailable_on_failure("The task store"):
            item = self._db.get_item(TableName=self._table, Key={"task_id": {"S": task_id}}, ConsistentRead=True).get("Item")
        return _decode(item) if item else None

    def delete(self, task_id: str) -> None:
        with unavailable_on_failure("The task store"):
            self._db.delete_item(TableName=self._table, Key={"task_id": {"S": task_id}})

    # -- worker side

    def start(self, task_id: str, worker_id: str, lease_seconds: float) -> dict[str, Any] | None:
        """Claim the task for `worker_id` and mark it processing; None when it is finished or leased by a live worker."""
        now = time.time()
        try:
            item = self._db.update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET #s = :processing, lease_owner = :w, lease_until = :until ADD attempts :one",
                ConditionExpression="attribute_exists(task_id) AND #s IN (:waiting, :processing) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :w)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":processing": {"S": TaskStatus.PROCESSING.value},
                    ":waiting": {"S": TaskStatus.WAITING.value},
                    ":w": {"S": worker_id},
                    ":until": {"N": repr(now + lease_seconds)},
                    ":now": {"N": repr(now)},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except AWS_ERRORS as err:
            if is_condition_failure(err):
                return None
            raise
        return _decode(item)

    def renew_lease(self, task_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the worker's lease on a processing task; False when the lease is no longer this worker's."""
        return self._update_if(
            task_id,
            "SET lease_until = :until",
            "lease_owner = :w AND #s = :processing",
            {":w": {"S": worker_id}, ":until": {"N": repr(time.time() + lease_seconds)}, ":processing": {"S": TaskStatus.PROCESSING.value}},
        )

    def set_progress(self, task_id: str, progress: dict[str, Any]) -> None:
        """Record a processing task's progress (stage, percent, bytes, speed, eta)."""
        self._update_if(task_id, "SET progress = :p", "#s = :processing", {":p": {"S": json.dumps(progress)}, ":processing": {"S": TaskStatus.PROCESSING.value}})

    def complete(self, task_id: str, file_name: str, ttl_seconds: int, worker_id: str | None = None, files: list[str] | None = None) -> bool:
        """Mark the task completed with its output file (and every output, `files`); it expires `ttl_seconds` from now."""
        extra = {"files": json.dumps(files)} if files else {}
        return self._finish(task_id, TaskStatus.COMPLETED, ttl_seconds, worker_id, file_name=file_name, **extra)

    def fail(self, task_id: str, error: str, ttl_seconds: int, worker_id: str | None = None) -> bool:
        """Mark the task failed with a readable message; it expires `ttl_seconds` from now."""
        return self._finish(task_id, TaskStatus.ERROR, ttl_seconds, worker_id, error=error)

    def complete_cached(self, task_id: str, object_task: str, file_name: str, ttl_seconds: int) -> bool:
        """Complete an unfinished task from a shared result (another task's object); False when it is finished or gone."""
        now = time.time()
        return self._update_if(
            task_id,
            "SET #s = :done_status, completed_time = :done, expires_at = :exp, gc = :gc, file_name = :f, object_task = :obj, cached = :t"
            " REMOVE lease_owner, lease_until, progress",
            "attribute_exists(task_id) AND #s IN (:waiting, :processing)",
            {
                ":done_status": {"S": TaskStatus.COMPLETED.value},
                ":done": {"S": now_iso()},
                ":exp": {"N": str(int(now + ttl_seconds))},
                ":gc": {"S": "1"},
                ":f": {"S": file_name},
                ":obj": {"S": object_task},
                ":t": {"BOOL": True},
                ":waiting": {"S": TaskStatus.WAITING.value},
                ":processing": {"S": TaskStatus.PROCESSING.value},
            },
        )

    def release(self, task_id: str, worker_id: str) -> None:
        """Give a processing task back (status waiting, no lease), e.g. on shutdown, so another worker starts it;
        the attempt its claim counted is given back too (a shutdown is not a failure of the job)."""
        self._update_if(
            task_id,
            "SET #s = :waiting ADD attempts :minus REMOVE lease_owner, lease_until, progress",
            "lease_owner = :w AND #s = :processing AND attempts > :zero",
            {
                ":w": {"S": worker_id},
                ":waiting": {"S": TaskStatus.WAITING.value},
                ":processing": {"S": TaskStatus.PROCESSING.value},
                ":minus": {"N": "-1"},
                ":zero": {"N": "0"},
            },
        )

    def requeue(self, task_id: str, worker_id: str, error: str) -> bool:
        """After a transient failure: back to waiting (no lease) with `last_error`, for the retry to claim; False if not ours."""
        return self._update_if(
            task_id,
            "SET #s = :waiting, last_error = :e REMOVE lease_owner, lease_until, progress",
            "lease_owner = :w AND #s = :processing",
            {
                ":w": {"S": worker_id},
                ":e": {"S": error},
                ":waiting": {"S": TaskStatus.WAITING.value},
                ":processing": {"S": TaskStatus.PROCESSING.value},
            },
        )

    # -- webhooks (functions/notify)

    def record_webhook(self, task_id: str, attempts_before: int, status: str, status_code: int | None) -> bool:
        """Count one delivery attempt (status, last status code); False when the task is gone or another copy of the
        same attempt was recorded first (SQS delivers at least once: only one copy may schedule the next attempt)."""
        sets = "wh_status = :st, wh_attempts = :n" + (", wh_code = :code" if status_code is not None else "")
        values: dict[str, Any] = {":st": {"S": status}, ":n": {"N": str(attempts_before + 1)}, ":before": {"N": str(attempts_before)}}
        if status_code is not None:
            values[":code"] = {"N": str(status_code)}
        return self._update_if(
            task_id, "SET " + sets + ("" if status_code is not None else " REMOVE wh_code"),
            "attribute_exists(webhook_url) AND wh_attempts = :before", values, names={},
        )

    def pending_webhooks(self) -> list[dict[str, Any]]:
        """Finished tasks whose webhook is still pending (a scan: at the start of the local stack only, whose
        in-memory notify queue is rebuilt from them)."""
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "wh_status = :pending AND #s IN (:completed, :error)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":pending": {"S": "pending"}, ":completed": {"S": TaskStatus.COMPLETED.value}, ":error": {"S": TaskStatus.ERROR.value}},
            "ConsistentRead": True,
        }
        with unavailable_on_failure("The task store"):
            while True:
                page = self._db.scan(**kwargs)
                out.extend(_decode(i) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- start of a single-machine stack (its queue is rebuilt from this table)

    def unfinished(self) -> list[str]:
        """Ids of the tasks waiting or processing (a scan: run once at the start of the local stack, never per request)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "task_id",
            "FilterExpression": "#s IN (:waiting, :processing)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":waiting": {"S": TaskStatus.WAITING.value}, ":processing": {"S": TaskStatus.PROCESSING.value}},
            "ConsistentRead": True,
        }
        with unavailable_on_failure("The task store"):
            while True:
                page = self._db.scan(**kwargs)
                ids.extend(i["task_id"]["S"] for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return ids
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reset(self, task_id: str) -> bool:
        """Back to waiting without a lease, when no worker can hold one (before any has started); False if finished."""
        return self._update_if(
            task_id,
            "SET #s = :waiting REMOVE lease_owner, lease_until, progress",
            "#s IN (:waiting, :processing)",
            {":waiting": {"S": TaskStatus.WAITING.value}, ":processing": {"S": TaskStatus.PROCESSING.value}},
        )

    # -- cleanup side

    def expired(self, now: float | None = None, limit: int = 100) -> list[str]:
        """Ids of tasks whose time is up, oldest first (from the sparse by-expiry index, not a scan): finished tasks
        to remove, and unfinished ones past their waiting deadline to check."""
        with unavailable_on_failure("The task store"):
            page = self._db.query(
                TableName=self._table,
                IndexName="by-expiry",
                KeyConditionExpression="gc = :gc AND expires_at <= :now",
                ExpressionAttributeValues={":gc": {"S": "1"}, ":now": {"N": repr(now if now is not None else time.time())}},
                Limit=limit,
            )
        return [i["task_id"]["S"] for i in page.get("Items", [])]

    def fail_unstarted(self, task_id: str, error: str, ttl_seconds: int, now: float | None = None) -> bool:
        """Fail a task nobody runs (waiting, or processing under a lapsed lease); False when it is finished or held."""
        now = now if now is not None else time.time()
        return self._update_if(
            task_id,
            "SET #s = :error, #e = :e, completed_time = :done, expires_at = :exp, gc = :gc REMOVE lease_owner, lease_until, progress",
            "#s = :waiting OR (#s = :processing AND (attribute_not_exists(lease_until) OR lease_until < :now))",
            {
                ":error": {"S": TaskStatus.ERROR.value},
                ":e": {"S": error},
                ":done": {"S": now_iso()},
                ":exp": {"N": str(int(now + ttl_seconds))},
                ":gc": {"S": "1"},
                ":waiting": {"S": TaskStatus.WAITING.value},
                ":processing": {"S": TaskStatus.PROCESSING.value},
                ":now": {"N": repr(now)},
            },
            {"#s": "status", "#e": "error"},
        )

    def postpone_check(self, task_id: str, until: float) -> bool:
        """Move an unfinished task's cleanup check to `until` (it is running under a live lease)."""
        return self._update_if(
            task_id,
            "SET expires_at = :exp",
            "#s IN (:waiting, :processing)",
            {":exp": {"N": str(int(until))}, ":waiting": {"S": TaskStatus.WAITING.value}, ":processing": {"S": TaskStatus.PROCESSING.value}},
        )

    def _finish(self, task_id: str, status: TaskStatus, ttl_seconds: int, worker_id: str | None, **fields: str) -> bool:
        now = time.time()
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":done": {"S": now_iso()},
            ":exp": {"N": str(int(now + ttl_seconds))},
            ":gc": {"S": "1"},
        }
        sets = ["#s = :status", "completed_time = :done", "expires_at = :exp", "gc = :gc"]
        for name, value in fields.items():
            attr = {"file_name": "file_name", "error": "#e", "files": "files"}[name]
            if attr.startswith("#"):
                names[attr] = name
            sets.append(f"{attr} = :{name}")
            values[f":{name}"] = {"S": value}
        condition = "attribute_exists(task_id) AND NOT #s IN (:st_completed, :st_error)"
        values[":st_completed"] = {"S": TaskStatus.COMPLETED.value}
        values[":st_error"] = {"S": TaskStatus.ERROR.value}
        if worker_id is not None:
            condition += " AND (attribute_not_exists(lease_owner) OR lease_owner = :w)"
            values[":w"] = {"S": worker_id}
        return self._update_if(task_id, "SET " + ", ".join(sets) + " REMOVE lease_owner, lease_until, progress", condition, values, names)

    def _update_if(self, task_id: str, update: str, condition: str, values: dict[str, Any], names: dict[str, str] | None = None) -> bool:
        """A conditional update of one task: True when applied, False when its condition did not hold."""
        return applied(lambda: self._db.update_item(
            TableName=self._table,
            Key={"task_id": {"S": task_id}},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names or {"#s": "status"}} if names != {} else {}),
        ))


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict (numbers as int/float, JSON attributes parsed)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        (kind, raw), = value.items()
        if kind == "N":
            out[name] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        elif kind == "S" and (name in ("params", "progress", "files", "entry") or name.startswith("entry_")):
            out[name] = json.loads(raw)
        elif kind == "SS":
            out[name] = list(raw)
        elif kind == "S":
            out[name] = raw
        elif kind == "BOOL":
            out[name] = raw
    return out


def public_view(task: dict[str, Any]) -> dict[str, Any]:
    """The task as /status shows it: the original's fields plus progress while processing."""
    view: dict[str, Any] = {"status": task["status"], "task_type": task["task_type"], "url": task["url"]}
    view.update(task.get("params", {}))
    for name in ("completed_time", "error", "attempts"):
        if name in task:
            view[name] = task[name]
    if task["status"] == TaskStatus.COMPLETED.value and task.get("file_name"):
        view["file"] = f"/files/{task['task_id']}/{task['file_name']}"
        view["cached"] = bool(task.get("cached"))  # served from a shared result, not downloaded for this task
    if task["status"] == TaskStatus.PROCESSING.value and task.get("progress"):
        view["progress"] = task["progress"]
    if task["status"] == TaskStatus.COMPLETED.value and task.get("files"):
        view["files"] = list(task["files"])
    view.update(playlist_view(task))
    if task.get("webhook_url"):
        view["webhook"] = webhook_view(task)
    return view


def webhook_view(task: dict[str, Any]) -> dict[str, Any]:
    """A task's webhook delivery state, as /status shows it."""
    return {"status": task.get("wh_status", "pending"), "attempts": int(task.get("wh_attempts", 0)), "last_status_code": task.get("wh_code")}


def served_names(task: dict[str, Any]) -> set[str]:
    """The file names /files may hand out for this task now: its outputs, and a playlist's ended entries' files."""
    names: set[str] = set()
    if task["status"] == TaskStatus.COMPLETED.value:
        names.update(n for n in [task.get("file_name"), *(task.get("files") or [])] if n)
    for entry in entries_of(task):
        if entry.get("status") == TaskStatus.COMPLETED.value:
            names.update(entry.get("files") or [])
    return names
