"""Worker heartbeats in DynamoDB: one item per worker process with the versions it runs; expires by TTL."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.stores import unavailable_on_failure


@dataclass(frozen=True)
class WorkerRecord:
    """One live worker as /health shows it."""

    worker_id: str
    seen_at: float
    running: int
    versions: dict[str, str] = field(default_factory=dict)


class WorkerStore:
    """Workers table: `worker_id` -> seen_at, expires_at (the table's TTL attribute), running, versions."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def beat(self, worker_id: str, versions: dict[str, str], running: int, ttl: float, now: float | None = None) -> None:
        """Record that `worker_id` is alive now, for `ttl` seconds."""
        now = time.time() if now is None else now
        item = {
            "worker_id": {"S": worker_id},
            "seen_at": {"N": repr(now)},
            "expires_at": {"N": str(int(now + ttl))},
            "running": {"N": str(int(running))},
            "versions": {"M": {k: {"S": v} for k, v in versions.items() if v}},
        }
        with unavailable_on_failure("The worker registry"):
            self._db.put_item(TableName=self._table, Item=item)

    def leave(self, worker_id: str) -> None:
        """Remove `worker_id`'s record (a clean exit)."""
        with unavailable_on_failure("The worker registry"):
            self._db.delete_item(TableName=self._table, Key={"worker_id": {"S": worker_id}})

    def purge_expired(self, now: float | None = None) -> int:
        """Delete the records past their expiry; returns how many. DynamoDB's TTL does this in AWS (late); a backend
        without TTL (dynalite under `make run`) would keep a killed worker's record forever."""
        now = time.time() if now is None else now
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "expires_at <= :now",
            "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
            "ProjectionExpression": "worker_id",
        }
        removed = 0
        with unavailable_on_failure("The worker registry"):
            while True:
                page = self._db.scan(**kwargs)
                for item in page.get("Items", []):
                    try:  # only while still expired: a worker that beat again meanwhile keeps its record
                        self._db.delete_item(
                            TableName=self._table,
                            Key={"worker_id": item["worker_id"]},
                            ConditionExpression="expires_at <= :now",
                            ExpressionAttributeValues={":now": {"N": str(int(now))}},
                        )
                        removed += 1
                    except AWS_ERRORS as err:
                        if not is_condition_failure(err):
                            raise
                if "LastEvaluatedKey" not in page:
                    return removed
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def live(self, now: float | None = None) -> list[WorkerRecord]:
        """Workers whose record has not expired (TTL deletes lazily, so expired items are filtered here), newest first."""
        now = time.time() if now is None else now
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "expires_at > :now",
            "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
            "ProjectionExpression": "worker_id, seen_at, running, versions",
        }
        items: list[dict[str, Any]] = []
        with unavailable_on_failure("The worker registry"):
            while True:
                page = self._db.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        records = [
            WorkerRecord(
                worker_id=i["worker_id"]["S"],
                seen_at=float(i.get("seen_at", {}).get("N", "0")),
                running=int(i.get("running", {}).get("N", "0")),
                versions={k: v.get("S", "") for k, v in i.get("versions", {}).get("M", {}).items()},
            )
            for i in items
        ]
        return sorted(records, key=lambda r: r.seen_at, reverse=True)
