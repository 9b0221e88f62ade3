"""Expand a playlist, fan its entries out as jobs, and name an entry's files (runs in the job's child process).

Expansion is yt-dlp's flat extraction (`extract_flat`), cut at PLAYLIST_MAX_ITEMS. The entry list is written into
the playlist task first (once: a re-run finds it and only makes up what is missing), then each entry gets its own
internal task and a job on the same queue, so every worker shares the work and each entry is retried and fails on
its own. An entry that is a link of its own (a feed's enclosure, a channel's video) is downloaded from that link;
one that exists only inside the page (one of several <video> elements) is that item of the page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from yt_dlp.utils import sanitize_filename

from functions.worker.download.errors import PermanentJobError
from functions.worker.download.extras import SUBTITLE_STEM, THUMBNAIL_STEM
from functions.worker.download.progress import ProgressReporter, make_progress
from functions.worker.egress.proxy import GuardedProxy
from functions.worker.egress.upstream import UpstreamProxy, order_for_attempt
from functions.worker.playlist_zip import build_zip
from functions.worker.settings import WorkerSettings
from shared.aws import make_client
from shared.models import TaskStatus
from shared.stores.media import MediaStore
from shared.stores.playlists import PHASE_ENTRIES, PHASE_ZIP, entries_of, entry_task_id
from shared.stores.queue import JobQueue
from shared.stores.tasks import TaskStore

log = logging.getLogger(__name__)

MAX_TITLE = 60
# The request's fields an entry's own job gets (the rest describe the playlist itself).
_PLAYLIST_ONLY = ("kind", "items", "zip")


def run_playlist_job(
    task: dict[str, Any], settings: WorkerSettings, job_dir: Path, site: Mapping[str, Any], ylog: Any, proxy: GuardedProxy,
    upstreams: list[UpstreamProxy], tasks: TaskStore, media: MediaStore, reporter: ProgressReporter, ydl_class: Any,
) -> dict[str, Any]:
    """A playlist's own job: expand it and fan its entries out, or (all entries ended, zip asked for) build the archive."""
    if task.get("phase") == PHASE_ZIP:
        return {"status": "completed", "file_name": build_zip(task, media, reporter.report)}
    reporter.report(make_progress("expanding", None, None))
    order = list(order_for_attempt(upstreams, int(task.get("attempts") or 1))) or [None]
    proxy.use(order[0])
    base = {
        "proxy": proxy.socks_url, "socket_timeout": settings.socket_timeout, "quiet": True, "no_warnings": True, "cachedir": False,
        "extractor_retries": 3, "paths": {"home": str(job_dir)}, "outtmpl": {"default": "playlist.%(ext)s"}, "logger": ylog,
    }

    def extract(opts: dict[str, Any]) -> Mapping[str, Any]:
        with ydl_class({**site, **base, **opts}, root=job_dir) as ydl:
            return ydl.sanitize_info(ydl.extract_info(task["url"], download=False))

    queue = JobQueue(make_client("sqs", settings), settings.jobs_queue_url)
    sent = expand(task, tasks, queue, extract, settings.playlist_max_items, settings.waiting_timeout)
    return {"status": "fanned_out", "entries": sent}


def flat_options(params: Mapping[str, Any], max_items: int) -> dict[str, Any]:
    """The options of the expansion (pure): flat, the requested items, at most max_items + 1 (to see a cut)."""
    items = params.get("items")
    return {
        "extract_flat": "in_playlist",
        "skip_download": True,
        "noplaylist": False,
        "playlist_items": str(items) if items else f"1:{max_items + 1}",
    }


def entries_from(info: Mapping[str, Any], url: str, max_items: int) -> tuple[list[dict[str, Any]], bool, int | None]:
    """(entries, truncated, playlist_count) from a flat extraction; a single video is a playlist of one."""
    if info.get("_type") not in ("playlist", "multi_video"):
        title = str(info.get("title") or "entry")
        return [{"index": 1, "title": title[:200], "url": url, "item": None}], False, 1
    raw = [e for e in (info.get("entries") or []) if isinstance(e, Mapping)]
    indices = list(info.get("requested_entries") or []) or list(range(1, len(raw) + 1))
    entries = []
    for position, entry in enumerate(raw):
        index = int(entry.get("playlist_index") or (indices[position] if position < len(indices) else position + 1))
        own_link = entry.get("_type") in ("url", "url_transparent") and entry.get("url")
        entries.append({
            "index": index,
            "title": str(entry.get("title") or entry.get("id") or f"entry {index}")[:200],
            "url": str(entry["url"]) if own_link else url,
            "item": None if own_link else index,
        })
    truncated = len(entries) > max_items
    count = info.get("playlist_count")
    return entries[:max_items], truncated, int(count) if isinstance(count, int) else None


def file_stem(index: int, title: str, width: int) -> str:
    """`<index, zero-padded>-<safe title>`: letters, digits, '-', '_' and '.' only (never a path)."""
    safe = sanitize_filename(title, restricted=True).strip("._-")[:MAX_TITLE].strip("._-") or "entry"
    return f"{index:0{width}d}-{safe}"


def expand(
    task: dict[str, Any], tasks: TaskStore, queue: JobQueue, extract: Callable[[dict[str, Any]], Mapping[str, Any]],
    max_items: int, waiting_seconds: int,
) -> int:
    """Expand the playlist (unless a previous run did), create its entries' tasks and queue their jobs; returns how many."""
    params = task.get("params") or {}
    store = tasks.playlists
    if task.get("phase") != PHASE_ENTRIES:
        info = extract(flat_options(params, max_items))
        found, truncated, count = entries_from(info, task["url"], max_items)
        if not found:
            raise PermanentJobError("The playlist has no entries" + (f" matching items {params['items']!r}" if params.get("items") else ""))
        width = max(2, len(str(max(e["index"] for e in found))))
        states = [{"index": e["index"], "title": e["title"], "status": TaskStatus.WAITING.value,
                   "stem": file_stem(e["index"], e["title"], width), "url": e["url"], "item": e["item"]} for e in found]
        if not store.set_entries(task["task_id"], str(task.get("lease_owner") or ""), states, truncated, count):
            raise PermanentJobError("The playlist was taken over by another worker")
        log.info("playlist expanded", extra={"task_id": task["task_id"], "entries": len(states), "truncated": truncated})
        task = tasks.get(task["task_id"]) or task
    entries = entries_of(task)
    kind = "get_audio" if params.get("kind") == "audio" else "get_video"
    entry_params = {k: v for k, v in params.items() if k not in _PLAYLIST_ONLY}
    if kind == "get_audio":
        entry_params.pop("video_format", None)
    sent = 0
    for state in entries:
        if state.get("status") in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value):
            continue
        own = {**entry_params, **({"playlist_item": state["item"]} if state.get("item") else {})}
        public = {k: state[k] for k in ("index", "title", "stem")}
        if state.get("url"):  # else its task was made by an earlier run (the entry's state moved on since)
            store.create_entry(task, public, kind, str(state["url"]), own, waiting_seconds)
        current = tasks.get(entry_task_id(task["task_id"], state["index"]))
        if current is not None and current.get("status") not in (TaskStatus.COMPLETED.value, TaskStatus.ERROR.value):
            queue.send(current["task_id"])  # a duplicate of a live job is deleted by the worker that meets it
            sent += 1
    return sent


def mark_processing(tasks: TaskStore, entry_task: Mapping[str, Any]) -> None:
    """Show the entry as processing in its playlist (unless it has already ended)."""
    state = {**(entry_task.get("entry") or {}), "status": TaskStatus.PROCESSING.value}
    tasks.playlists.mark_entry(str(entry_task["playlist_id"]), state)


def output_names(task: Mapping[str, Any], main: Path, extras: list[Path]) -> tuple[str, list[tuple[Path, str]]]:
    """(the task id the files belong to, [(file, stored name)]): a playlist entry's go under its playlist, prefixed."""
    stem = (task.get("entry") or {}).get("stem")
    if not task.get("playlist_id") or not stem:
        return str(task["task_id"]), [(p, p.name) for p in [main, *extras]]
    named = [(main, f"{stem}{main.suffix}")] + [(p, f"{stem}.{p.name}") for p in extras]
    return str(task["playlist_id"]), named


def side_outputs(job_dir: Path, params: Mapping[str, Any], main: Path) -> list[Path]:
    """The subtitle files and (when asked for) the thumbnail the download left next to the main file."""
    found = sorted(p for p in job_dir.glob(f"{SUBTITLE_STEM}.*") if p.suffix in (".vtt", ".srt") and p.is_file())
    thumbnail = job_dir / f"{THUMBNAIL_STEM}.jpg"
    if params.get("thumbnail") and thumbnail.is_file():
        found.append(thumbnail)
    return [p for p in found if p != main]
