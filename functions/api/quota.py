"""The RateLimit headers (IETF draft 6, as cobalt and express-rate-limit send them) from a key's standing."""

from __future__ import annotations

from typing import Any


def ratelimit_headers(quota: Any) -> dict[str, str]:
    """`RateLimit-Limit`, `-Remaining`, `-Reset` (seconds) and `-Policy` (`<limit>;w=<window seconds>`)."""
    return {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset),
        "RateLimit-Policy": f"{quota.limit};w={quota.window}",
    }
