"""Headless Chromium for the web page's tests: Debian's `chromium` package driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

CANDIDATES = ("chromium", "chromium-browser")
FALLBACKS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium", "/snap/bin/chromium")


def chromium_path() -> str | None:
    """The system Chromium: CHROMIUM_PATH, else `chromium` / `chromium-browser` on PATH, else the usual places."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in FALLBACKS if Path(p).is_file() and os.access(p, os.X_OK)), None)


def origin(url: str) -> str:
    """scheme://host:port of a URL (the default port made explicit)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.hostname}:{port}"
