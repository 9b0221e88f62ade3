"""Shared results: when two requests are the same (task type, normalised URL, output-changing parameters)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Request fields that do not change the output file: they never split the cache.
NEUTRAL_PARAMS = frozenset({"cache", "webhook_url"})
LIVE_TASK_TYPES = frozenset({"get_live_video", "get_live_audio"})
# Never a shared result: live recordings, and playlists (their entries' files live under the playlist's own id).
UNSHARED_TASK_TYPES = LIVE_TASK_TYPES | {"get_playlist"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """The URL as a cache key sees it: scheme and host lower case, no default port, no fragment, query sorted by name."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username or parts.password:  # credentials in the URL are part of what is fetched
        netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
    # A stable sort by name only: repeated names keep their order, which some servers depend on.
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True), key=lambda kv: kv[0]))
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def output_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that change the output (everything the request set, minus the neutral ones)."""
    return {k: v for k, v in sorted(params.items()) if k not in NEUTRAL_PARAMS}


def result_key(task_type: str, url: str, params: dict[str, Any], scope: str = "") -> str:
    """The cache key of a request: a SHA-256 over type, normalised URL, output params and scope ('' = every key)."""
    material = json.dumps([task_type, normalise_url(url), output_params(params), scope], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def shareable(mode: str, task_type: str, wanted: bool) -> bool:
    """Whether a request may share results at all: not when RESULT_SHARING=off, for live recordings, playlists, or `cache: false`."""
    return mode != "off" and wanted and task_type not in UNSHARED_TASK_TYPES


def scope_for(mode: str, key_hash: str, has_own_cookies: bool) -> str:
    """Who may share a result: everyone (''), or only the key (RESULT_SHARING=key, or the key sends its own cookies)."""
    return key_hash if mode == "key" or has_own_cookies else ""
