"""A worker's heartbeat record: the versions it actually runs (yt-dlp, yt-dlp-ejs, Deno, ffmpeg, the PO-token
plugin) and how many jobs it is running, so /health can show them. Versions are read once at start-up.

The worker process itself never imports yt-dlp (its job children do, from the forkserver): package versions come
from the installed distributions on sys.path (an operator's YTDLP_VERSION install comes first there), the
binaries' from their own --version output.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from importlib import metadata
from typing import Callable

from shared.stores.workers import WorkerStore

log = logging.getLogger(__name__)

_DISTRIBUTIONS = {"yt_dlp": "yt-dlp", "yt_dlp_ejs": "yt-dlp-ejs", "pot_plugin": "bgutil-ytdlp-pot-provider"}


def collect_versions(deno_path: str | None = None) -> dict[str, str]:
    """Versions of what a job runs; a missing part is left out (then /health shows it as absent)."""
    versions: dict[str, str] = {}
    for key, dist in _DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    deno = deno_path or _deno_binary()
    if deno:
        found = _first_match([deno, "--version"], r"^deno (\S+)")
        if found:
            versions["deno"] = found
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        found = _first_match([ffmpeg, "-hide_banner", "-version"], r"^ffmpeg version (\S+)")
        if found:
            versions["ffmpeg"] = found
    return versions


def _deno_binary() -> str | None:
    try:
        from deno import find_deno_bin
    except ImportError:
        return shutil.which("deno")
    try:
        return find_deno_bin()
    except FileNotFoundError:
        return shutil.which("deno")


def _first_match(command: list[str], pattern: str) -> str | None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(pattern, out, re.M)
    return match.group(1) if match else None


class Presence:
    """Writes this worker's heartbeat record; failures are logged, never fatal (jobs matter more than /health)."""

    def __init__(self, store: WorkerStore, worker_id: str, versions: dict[str, str], ttl: float, running: Callable[[], int]) -> None:
        self._store = store
        self._worker_id = worker_id
        self._versions = versions
        self._ttl = ttl
        self._running = running

    def beat(self) -> None:
        try:
            self._store.beat(self._worker_id, self._versions, self._running(), self._ttl)
        except Exception:
            log.warning("could not write the worker's heartbeat record", exc_info=True)

    def leave(self) -> None:
        try:
            self._store.leave(self._worker_id)
        except Exception:
            log.warning("could not remove the worker's heartbeat record", exc_info=True)
