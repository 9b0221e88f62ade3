"""Shared results in DynamoDB: one item per cache key, naming the task that downloads it and then the stored object.

An item is `running` (its `owner_task` downloads; other tasks wait for it) or `done` (the object under
`object_task`'s prefix is served to every task that matches). `expires_at` is the latest expiry of the tasks that
point at the object: the cleanup deletes the object only after it. Every change is one conditional single-item
write (the local stack's DynamoDB has no transactions), so one owner wins and a late writer re-reads.
"""

from __future__ import annotations

import time
from typing import Any

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.stores import applied, unavailable_on_failure

RUNNING = "running"
DONE = "done"


class ResultStore:
    """Reads and writes shared-result items; the API, the worker and the cleanup use the same store."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def get(self, key: str) -> dict[str, Any] | None:
        """The item as a plain dict (waiters as a list), or None."""
        with unavailable_on_failure("The shared-results store"):
            item = self._db.get_item(TableName=self._table, Key={"result_key": {"S": key}}, ConsistentRead=True).get("Item")
        return _decode(item) if item else None

    def claim(self, key: str, owner_task: str, expires_at: float) -> bool:
        """Make `owner_task` the one that downloads this result; False when an item exists already."""
        item = {
            "result_key": {"S": key},
            "state": {"S": RUNNING},
            "owner_task": {"S": owner_task},
            "expires_at": {"N": str(int(expires_at))},
            "gc": {"S": "1"},
        }
        return self._write("put_item", Item=item, ConditionExpression="attribute_not_exists(result_key)")

    def take_over(self, key: str, old_owner: str, new_owner: str, expires_at: float) -> bool:
        """A waiter becomes the owner of a running result whose owner failed; False when someone else moved first."""
        return self._update(
            key,
            "SET owner_task = :new, expires_at = :exp",
            "#st = :running AND owner_task = :old",
            {":new": {"S": new_owner}, ":old": {"S": old_owner}, ":exp": {"N": str(int(expires_at))}, ":running": {"S": RUNNING}},
        )

    def add_waiter(self, key: str, task_id: str) -> bool:
        """Note a task waiting for a running result, so its owner completes it at once; False when not running."""
        return self._update(key, "ADD waiters :w", "#st = :running", {":w": {"SS": [task_id]}, ":running": {"S": RUNNING}})

    def join(self, key: str, object_task: str, expires_at: float, now: float | None = None) -> bool:
        """Point one more task at a done result: its expiry becomes at least `expires_at`; False when it is not usable."""
        now = now if now is not None else time.time()
        values = {":done": {"S": DONE}, ":obj": {"S": object_task}, ":exp": {"N": str(int(expires_at))}, ":now": {"N": repr(now)}}
        if self._update(key, "SET expires_at = :exp", "#st = :done AND object_task = :obj AND expires_at > :now AND expires_at < :exp", values):
            return True
        item = self.get(key)  # already living longer than this task is fine; gone or replaced is not
        return item is not None and item["state"] == DONE and item.get("object_task") == object_task and item["expires_at"] >= int(expires_at)

    def publish(self, key: str, owner_task: str, file_name: str, expires_at: float) -> list[str] | None:
        """The owner's object is stored: the result is done; returns the waiters to complete, None when not the owner."""
        with unavailable_on_failure("The shared-results store"):
            try:
                old = self._db.update_item(
                    TableName=self._table,
                    Key={"result_key": {"S": key}},
                    UpdateExpression="SET #st = :done, object_task = :owner, file_name = :f, expires_at = :exp REMOVE waiters",
                    ConditionExpression="#st = :running AND owner_task = :owner",
                    ExpressionAttributeNames={"#st": "state"},
                    ExpressionAttributeValues={
                        ":done": {"S": DONE},
                        ":running": {"S": RUNNING},
                        ":owner": {"S": owner_task},
                        ":f": {"S": file_name},
                        ":exp": {"N": str(int(expires_at))},
                    },
                    ReturnValues="ALL_OLD",
                ).get("Attributes", {})
            except AWS_ERRORS as err:
                if is_condition_failure(err):
                    return None
                raise
        return sorted(set(old.get("waiters", {}).get("SS", [])) - {owner_task})

    def release(self, key: str, owner_task: str) -> bool:
        """The owner failed: drop the running item so a waiter claims it anew; False when not (or no longer) its owner."""
        return self._write(
            "delete_item",
            Key={"result_key": {"S": key}},
            ConditionExpression="#st = :running AND owner_task = :owner",
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues={":running": {"S": RUNNING}, ":owner": {"S": owner_task}},
        )

    # -- cleanup side

    def expired(self, now: float | None = None, limit: int = 100) -> list[str]:
        """Keys of items whose time is up (the sparse by-expiry index), oldest first."""
        with unavailable_on_failure("The shared-results store"):
            page = self._db.query(
                TableName=self._table,
                IndexName="by-expiry",
                KeyConditionExpression="gc = :gc AND expires_at <= :now",
                ExpressionAttributeValues={":gc": {"S": "1"}, ":now": {"N": repr(now if now is not None else time.time())}},
                Limit=limit,
            )
        return [i["result_key"]["S"] for i in page.get("Items", [])]

    def remove_expired(self, key: str, now: float) -> dict[str, Any] | None:
        """Delete the item if its time is still up (no task joined meanwhile); returns what it was, or None."""
        with unavailable_on_failure("The shared-results store"):
            try:
                old = self._db.delete_item(
                    TableName=self._table,
                    Key={"result_key": {"S": key}},
                    ConditionExpression="expires_at <= :now",
                    ExpressionAttributeValues={":now": {"N": repr(now)}},
                    ReturnValues="ALL_OLD",
                ).get("Attributes")
            except AWS_ERRORS as err:
                if is_condition_failure(err):
                    return None
                raise
        return _decode(old) if old else None

    def _update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        return self._write(
            "update_item",
            Key={"result_key": {"S": key}},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues=values,
        )

    def _write(self, operation: str, **kwargs: Any) -> bool:
        """One conditional write: True when applied, False when its condition did not hold."""
        with unavailable_on_failure("The shared-results store"):
            return applied(lambda: getattr(self._db, operation)(TableName=self._table, **kwargs))


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        (kind, raw), = value.items()
        out[name] = int(raw) if kind == "N" else sorted(raw) if kind == "SS" else raw
    return out
