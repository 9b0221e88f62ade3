"""Per-key rate limit in DynamoDB: an exact sliding window that holds across any number of API instances.

Each key has `limit` slot items; taking a slot is a conditional write that succeeds only when the slot is free
(never used, or last used more than a window ago). A slot can be taken by one request at a time, so however many
API instances race, at most `limit` requests are accepted in any window: the original's "REQUEST_LIMIT requests per
TASK_CLEANUP_TIME minutes", made atomic.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.errors import RateLimited
from shared.stores import unavailable_on_failure

_MAX_ROUNDS = 5
_SAMPLE = 8


def _free_slots(busy: dict[int, float], limit: int) -> list[int]:
    """Free slot numbers in random order, so concurrent requests spread out instead of all racing for slot 0.

    While most slots are free, a few are drawn at random: the cost follows the slots in use, not the limit (a
    REQUEST_LIMIT of a million costs what one of twenty does). When few are free, all of them are listed.
    """
    if len(busy) < limit // 2:
        picks: set[int] = set()
        while len(picks) < _SAMPLE and len(picks) < limit - len(busy):
            slot = random.randrange(limit)
            if slot not in busy:
                picks.add(slot)
        return list(picks)
    free = [slot for slot in range(limit) if slot not in busy]
    random.shuffle(free)
    return free


class RateLimitStore:
    """Takes and gives back rate-limit slots."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def acquire(self, subject: str, limit: int, window_seconds: float) -> tuple[int, float]:
        """Take a slot for `subject`; returns (slot, taken_at). RateLimited with a retry time when all are busy."""
        with unavailable_on_failure("The rate limiter"):
            for _ in range(_MAX_ROUNDS):
                now = time.time()
                busy = self._busy_slots(subject, limit, now - window_seconds)
                free = _free_slots(busy, limit)
                if not free:
                    retry_after = max(1, math.ceil(min(busy.values()) + window_seconds - now))
                    raise RateLimited("Rate limit exceeded. Try again later.", retry_after=retry_after)
                for slot in free:
                    if self._take(subject, slot, now, window_seconds):
                        return slot, now
            # Every free slot we saw was taken by someone else: the window is full by now.
            raise RateLimited("Rate limit exceeded. Try again later.", retry_after=1)
        raise AssertionError("unreachable")

    def release(self, subject: str, slot: int, taken_at: float) -> None:
        """Give a slot back (the request it paid for was not accepted after all)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "slot": {"N": str(slot)}},
                ConditionExpression="used_at = :t",
                ExpressionAttributeValues={":t": {"N": repr(taken_at)}},
            )
        except AWS_ERRORS:
            pass  # best effort: the slot frees itself when the window passes

    def _busy_slots(self, subject: str, limit: int, cutoff: float) -> dict[int, float]:
        busy: dict[int, float] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND slot < :limit",
            "ExpressionAttributeValues": {":pk": {"S": subject}, ":limit": {"N": str(limit)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                used_at = float(item.get("used_at", {}).get("N", "0"))
                if used_at > cutoff:
                    busy[int(item["slot"]["N"])] = used_at
            if "LastEvaluatedKey" not in page:
                return busy
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _take(self, subject: str, slot: int, now: float, window_seconds: float) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": subject}, "slot": {"N": str(slot)}},
                UpdateExpression="SET used_at = :now, expires_at = :exp",
                ConditionExpression="attribute_not_exists(used_at) OR used_at <= :cutoff",
                ExpressionAttributeValues={
                    ":now": {"N": repr(now)},
                    ":exp": {"N": str(int(now + window_seconds) + 60)},
                    ":cutoff": {"N": repr(now - window_seconds)},
                },
            )
        except AWS_ERRORS as err:
            if is_condition_failure(err):
                return False
            raise
        return True
