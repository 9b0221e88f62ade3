"""Standard Webhooks v1, the pure part: secrets, event bodies, signatures and the retry schedule.

Signing is the `standardwebhooks` library's (HMAC-SHA256 over `id.timestamp.body`); during a rotation's grace
period one event carries a signature per secret, space-separated, which its `verify` accepts.
"""

from __future__ import annotations

import base64
import json
import secrets as _random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from standardwebhooks import Webhook

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


def sign_headers(secrets: Iterable[Secret], event_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (one `v1,<sig>` per secret, space-separated)."""
    sent_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    text = body.decode("utf-8")
    signatures = [Webhook(secret.reveal()).sign(event_id, sent_at, text) for secret in secrets]
    if not signatures:
        raise ValueError("no signing secret")
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


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
