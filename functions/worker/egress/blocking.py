"""Does a failed try look like the site (or the proxy) blocking us? Then the job moves on to the next proxy at once."""

from __future__ import annotations

import re

from yt_dlp.networking.exceptions import HTTPError, ProxyError

from functions.worker.download.errors import _chain

_BLOCKED_STATUSES = frozenset({403, 429})
# yt-dlp's wording for a bot check / sign-in wall (YouTube: "Sign in to confirm you're not a bot").
_BOT_CHECK = re.compile(r"(?i)confirm you.?re not a (bot|robot)|not a bot|captcha|HTTP Error (403|429)\b")


def looks_blocked(exc: BaseException, proxy_failures: list[str] | tuple[str, ...] = ()) -> bool:
    """True for HTTP 403/429, a bot check, or a failure of the upstream proxy itself."""
    if proxy_failures:
        return True
    for err in _chain(exc):
        if isinstance(err, HTTPError) and int(err.status) in _BLOCKED_STATUSES:
            return True
        if isinstance(err, ProxyError):
            return True
        if _BOT_CHECK.search(str(err)):
            return True
    return False
