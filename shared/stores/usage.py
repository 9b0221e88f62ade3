"""Per-key usage totals in DynamoDB: one item per key digest, moved only by atomic ADDs (never a scan of tasks)."""

from __future__ import annotations

import logging
from typing import Any

from shared.aws import AWS_ERRORS
from shared.stores import unavailable_on_failure

log = logging.getLogger(__name__)

COUNTERS = ("tasks", "completed", "failed", "cached", "bytes")


class UsageStore:
    """Usage table: `owner` (the key's digest) -> tasks, completed, failed, cached, bytes."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def add(self, owner: str, **counts: int) -> bool:
        """Add `counts` (names from COUNTERS) to `owner`'s totals; False when the store did not take it.

        Best effort by design: the task it counts is already accepted or finished, and must not fail over a
        counter (the miss is logged).
        """
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown usage counters: {sorted(unknown)}")
        counts = {name: int(n) for name, n in counts.items() if n}
        if not counts:
            return True
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"owner": {"S": owner}},
                UpdateExpression="ADD " + ", ".join(f"#{n} :{n}" for n in counts),
                ExpressionAttributeNames={f"#{n}": n for n in counts},
                ExpressionAttributeValues={f":{n}": {"N": str(v)} for n, v in counts.items()},
            )
        except AWS_ERRORS:
            log.warning("usage not counted", extra={"counters": sorted(counts)}, exc_info=True)
            return False
        return True

    def totals(self, owner: str) -> dict[str, int]:
        """`owner`'s totals, every counter present (0 when never moved)."""
        with unavailable_on_failure("The usage store"):
            item = self._db.get_item(TableName=self._table, Key={"owner": {"S": owner}}, ConsistentRead=True).get("Item") or {}
        return {name: int(item[name]["N"]) if name in item else 0 for name in COUNTERS}

    def delete(self, owner: str) -> None:
        """Forget `owner`'s totals (its key was deleted)."""
        with unavailable_on_failure("The usage store"):
            self._db.delete_item(TableName=self._table, Key={"owner": {"S": owner}})
