"""Site errors that a person can act on: yt-dlp's bot checks, sign-in walls, geo and age blocks, named with their fix.

yt-dlp reports these as `ExtractorError(expected=True)` whose only distinguishing part is the site's own reason
(YouTube's playability status, passed through), so this is the one module that reads message text. The phrases
below are those the pinned yt-dlp (2026.10.26) raises or passes through; tests/unit/test_site_errors.py builds
the errors through yt-dlp's own raise helpers to keep them honest when yt-dlp is updated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

DOCS = "see docs/sites.md"


@dataclass(frozen=True)
class SiteProblem:
    """What went wrong on the site's side, whether a retry can help, and the fix in words."""

    kind: str
    permanent: bool
    fix: str


# Order matters: the first match wins (an age wall also says "sign in", a bot check is not an age wall).
_PATTERNS: tuple[tuple[re.Pattern[str], SiteProblem], ...] = tuple(
    (re.compile(pattern, re.I), problem)
    for pattern, problem in (
        (r"confirm you.{0,3}re not a bot|captcha challenge|unusual traffic",
         SiteProblem("bot_check", True, f"the site asks for proof this is not a bot: configure cookies or a PO-token provider, {DOCS}")),
        (r"confirm your age|age-restricted|inappropriate for some users",
         SiteProblem("age_restricted", True, f"age-restricted: it needs cookies of a signed-in, age-verified account, {DOCS}")),
        (r"members-only|join this channel|available to (?:this channel's )?members",
         SiteProblem("members_only", True, "members-only: only cookies of an account that is a member of the channel can fetch it")),
        (r"private video|this video is private|is private\b",
         SiteProblem("private", True, "private: only cookies of an account the owner shared it with can fetch it")),
        (r"not available in your country|not available from your location|geo.?restrict|geo.?block",
         SiteProblem("geo_blocked", True, f"geo-blocked from the worker's address: use a proxy in an allowed country, {DOCS}")),
        (r"content isn.t available, try again later|rate.?limit",
         SiteProblem("rate_limited", False, f"the site rate-limits this address: raise YTDLP_SLEEP_REQUESTS or use proxies, {DOCS}")),
        (r"sign in|log ?in|login required|registered users|cookies for the authentication",
         SiteProblem("sign_in", True, f"the site requires signing in: configure cookies, {DOCS}")),
        (r"has been removed|video unavailable|no longer available|does not exist|account .*terminated|been terminated",
         SiteProblem("unavailable", True, "removed or unavailable on the site")),
        (r"^unsupported url|unsupported url:",
         SiteProblem("unsupported", True, f"yt-dlp does not support this URL (or no longer does): update yt-dlp (YTDLP_VERSION), {DOCS}")),
    )
)

_JS_RUNTIME_MISSING = re.compile(r"no supported javascript runtime|supported javascript runtime and challenge solver", re.I)
JS_RUNTIME_FIX = f"no JavaScript runtime or challenge solver scripts were usable: install Deno and yt-dlp-ejs (the worker image has both), {DOCS}"
BLOCKED_STATUSES = frozenset({403, 429})


def diagnose(texts: Iterable[str]) -> SiteProblem | None:
    """The first known site problem named by any of `texts` (error messages, outermost first)."""
    for text in texts:
        for pattern, problem in _PATTERNS:
            if pattern.search(text or ""):
                return problem
    return None


def js_runtime_missing(warnings: Iterable[str]) -> bool:
    """yt-dlp warned that it could not solve YouTube's JavaScript challenges (formats go missing then)."""
    return any(_JS_RUNTIME_MISSING.search(w or "") for w in warnings)


def blocked_fix(status: int) -> str:
    """The fix for an HTTP 403/429 from a site: it refuses this address or session."""
    return f"the site refused this address (HTTP {status}): configure cookies, a PO-token provider or proxies, {DOCS}"
