"""Standard Webhooks v1, the pure part shared by the API, the worker and the notifier: secrets, event ids and
bodies, the retry schedule and its chaining. Signing lives with the notifier (functions/notify/signing.py), so the
worker image needs no signing library.
"""

from __future__ import annotations

import base64
import json
import secrets as _random
from dataclasses import dataclass
from typing import Any

from shared.secrets import Secret

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # within Standard Webhooks' 24 to 64
COMPLETED = "task.completed"
FAILED = "task.failed"
EVENT_TYPES = (COMPLETED, FAILED)
# SQS's largest DelaySeconds: longer waits are chained (re-sent with what is left).
MAX_QUEUE_DELAY = 900


def new_secret() -> Secret:
    """A new signing secret, `whsec_<base64 of 32 random bytes>`."""
    return Secret(SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii"))


def event_id(task_id: str) -> str:
    """The webhook-id of a task's event: the same on every retry, and after a restart (a task ends only once)."""
    return f"msg_{task_id}"


def event_body(event_type: str, timestamp: str, data: dict[str, Any]) -> bytes:
    """The JSON body of one event: {"type", "timestamp", "data"}, compact and stable."""
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt did and what follows from it."""

    status: str  # "delivered", "pending" (a retry follows) or "failed" (no more attempts)
    retry_in: int | None = None


def judge(status_code: int | None, attempts: int, delays: tuple[int, ...]) -> Outcome:
    """After attempt number `attempts`: any 2xx delivers; 410 stops; anything else waits `delays[attempts-1]` if left."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome("delivered")
    if status_code == 410 or attempts > len(delays):
        return Outcome("failed")
    return Outcome("pending", delays[attempts - 1])


def hop(wait: int) -> tuple[int, int]:
    """(delay of the next queue message, wait left after it): a wait past SQS's 900 s is sent in 900 s hops."""
    wait = max(0, int(wait))
    step = min(wait, MAX_QUEUE_DELAY)
    return step, wait - step
