"""The yt-dlp options an operator's site knobs add: JavaScript runtime, cookies, extractor args, PO tokens, pacing.

A pure function of the settings and the job's cookie file (no I/O), merged over the task's options by the runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.worker.settings import WorkerSettings

# The bgutil plugin's HTTP provider reads its server from these extractor args.
POT_PROVIDER_ARGS = "youtubepot-bgutilhttp"


def deno_path() -> str | None:
    """The Deno binary the `deno` package (pinned in requirements.txt) installed; None when it is missing."""
    try:
        import deno
    except ImportError:
        return None
    try:
        return deno.find_deno_bin()
    except FileNotFoundError:
        return None


def site_options(settings: WorkerSettings, *, deno: str | None, cookiefile: Path | None = None) -> dict[str, Any]:
    """Options for every job: where Deno is, the operator's extractor args and pacing, the PO-token provider, cookies."""
    opts: dict[str, Any] = {
        # yt-dlp would look for `deno` on PATH; the pip-installed binary lives in the venv's bin, so name it.
        "js_runtimes": {"deno": {"path": deno} if deno else {}},
    }
    extractor_args = settings.extractor_args
    if settings.pot_provider_url:
        extractor_args.setdefault(POT_PROVIDER_ARGS, {})["base_url"] = [settings.pot_provider_url]
    if extractor_args:
        opts["extractor_args"] = extractor_args
    if settings.ytdlp_sleep_requests:
        opts["sleep_interval_requests"] = settings.ytdlp_sleep_requests
    if cookiefile is not None:
        opts["cookiefile"] = str(cookiefile)
    return opts
