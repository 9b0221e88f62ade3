"""Netscape cookies files (what yt-dlp's --cookies reads): strict parsing, domains, merging. No I/O, no yt-dlp.

Used by the worker for the operator's cookies (and, later, a key's own), so the API can use it too without
importing yt-dlp. Values are never part of an error message: a bad line is named by its number only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import SecretStr

from shared.secrets import reference_kind

HEADER = "# Netscape HTTP Cookie File"
_HTTPONLY = "#HttpOnly_"
_FIELDS = 7
_EXPIRES = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_DOMAIN = re.compile(r"^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class CookiesError(ValueError):
    """The text is not a Netscape cookies file (the message names the line, never a value)."""


@dataclass(frozen=True)
class CookieLine:
    """One cookie line, kept verbatim; `domain` without a leading dot, lower case, for matching."""

    domain: str
    text: str


def parse(text: str) -> list[CookieLine]:
    """The cookie lines of a Netscape cookies file; CookiesError when any line is malformed or none is present."""
    if text.lstrip().startswith(("[", "{")):
        raise CookiesError("cookies must be in Netscape format (as exported by a cookies.txt browser extension), not JSON")
    cookies: list[CookieLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        body = line[len(_HTTPONLY):] if line.startswith(_HTTPONLY) else line
        if not body.strip() or body.startswith("#"):
            continue
        fields = body.split("\t")
        if len(fields) != _FIELDS:
            raise CookiesError(f"line {number}: a cookie line has 7 tab-separated fields, this one has {len(fields)}")
        domain, flag, path, secure, expires, name, _value = fields
        if not _DOMAIN.match(domain) or flag.upper() not in ("TRUE", "FALSE") or secure.upper() not in ("TRUE", "FALSE"):
            raise CookiesError(f"line {number}: not a cookie line (domain, TRUE/FALSE, path, TRUE/FALSE, expiry, name, value)")
        if not path.startswith("/") or not name or (expires and not _EXPIRES.match(expires)):
            raise CookiesError(f"line {number}: the path, expiry or name of a cookie is invalid")
        cookies.append(CookieLine(domain.lstrip(".").lower(), line))
    if not cookies:
        raise CookiesError("the cookies file holds no cookie")
    return cookies


def domains(text: str) -> list[str]:
    """The distinct cookie domains of a file, sorted."""
    return sorted({c.domain for c in parse(text)})


def merge(base: str | None, override: str | None) -> str | None:
    """One cookies file: `override`'s cookies, plus `base`'s for every domain `override` does not cover."""
    if not base and not override:
        return None
    own = parse(override) if override else []
    covered = {c.domain for c in own}
    kept = [c for c in (parse(base) if base else []) if c.domain not in covered]
    return "\n".join([HEADER, *(c.text for c in kept), *(c.text for c in own)]) + "\n"


def reference(setting: SecretStr | None) -> str | None:
    """COOKIES_FILE as a shared.secrets reference: an ARN or `file:` as given, a bare path as `file:<path>`."""
    if setting is None or not setting.get_secret_value().strip():
        return None
    ref = setting.get_secret_value().strip()
    return ref if reference_kind(ref) != "value" else f"file:{ref}"
