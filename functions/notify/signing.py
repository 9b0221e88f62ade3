"""Signing with the `standardwebhooks` library (HMAC-SHA256 over `id.timestamp.body`, `v1,<base64>`).

During a rotation's grace period one event carries a signature per secret, space-separated in webhook-signature;
the library's `verify` accepts a body when any of them matches.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from standardwebhooks import Webhook

from shared.secrets import Secret


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
