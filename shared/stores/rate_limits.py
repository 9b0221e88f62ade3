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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Quota:
    """A key's standing in its window, as the RateLimit headers and /usage show it.

    `reset` is the seconds until the oldest counted request leaves the window (a slot frees up), or the whole
    window when none is counted. `slot` and `taken_at` name the slot an accepted request took (for `release`).
    """

    limit: int
    remaining: int
    reset: int
    window: int
    slot: int | None = None
    taken_at: float = 0.0

    @property
    def used(self) -> int:
        return self.limit - self.remaining


def _standing(busy: dict[int, float], limit: int, window_seconds: float, now: float) -> tuple[int, int]:
    """(remaining, reset) for the busy slots `busy` (used_at by slot) at `now`."""
    remaining = max(0, limit - len(busy))
    reset = max(1, math.ceil(min(busy.values()) + window_seconds - now)) if busy else max(1, math.ceil(window_seconds))
    return remaining, reset


class RateLimitStore:
    """Takes and gives back rate-limit slots."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def acquire(self, subject: str, limit: int, window_seconds: float) -> Quota:
        """Take a slot for `subject`; returns the standing after it (one query and one write).

        RateLimited, carrying the standing (0 remaining) and a retry time, when every slot is busy.
        """
        window = max(1, math.ceil(window_seconds))
        with unavailable_on_failure("The rate limiter"):
            for _ in range(_MAX_ROUNDS):
                now = time.time()
                busy = self._busy_slots(subject, limit, now - window_seconds)
                free = _free_slots(busy, limit)
                if not free:
                    _, reset = _standing(busy, limit, window_seconds, now)
                    raise RateLimited("Rate limit exceeded. Try again later.", retry_after=reset, quota=Quota(limit, 0, reset, window))
                for slot in free:
                    if self._take(subject, slot, now, window_seconds):
                        # Counted as seen by the query plus this slot: a concurrent request may be missing, never
                        # the caller's own.
                        remaining, reset = _standing({**busy, slot: now}, limit, window_seconds, now)
                        return Quota(limit, remaining, reset, window, slot=slot, taken_at=now)
            # Every free slot we saw was taken by someone else: the window is full by now.
            raise RateLimited("Rate limit exceeded. Try again later.", retry_after=1, quota=Quota(limit, 0, 1, window))
        raise AssertionError("unreachable")

    def standing(self, subject: str, limit: int, window_seconds: float) -> Quota:
        """The standing of `subject` without taking a slot (what GET /usage shows)."""
        now = time.time()
        with unavailable_on_failure("The rate limiter"):
            busy = self._busy_slots(subject, limit, now - window_seconds)
        remaining, reset = _standing(busy, limit, window_seconds, now)
        return Quota(limit, remaining, reset, max(1, math.ceil(window_seconds)))

    def release(self, subject: str, quota: Quota) -> None:
        """Give back the slot `quota` took (the request it paid for was not accepted after all)."""
        if quota.slot is None:
            return
        slot, taken_at = quota.slot, quota.taken_at
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
