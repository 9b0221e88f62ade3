"""Figure (c) of the speed issue: a 20-entry podcast feed through get_playlist with WORKER_PROCESSES=2, from the POST
to every entry downloadable (the playlist completed), against the sum of the same 20 files' single get_video
times (each POST to its last byte) on the same stack. No goal on 2 cores; reported as measured.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from bench.client import StatusPoller, download
from bench.harness import BenchStack, Context
from bench.stats import Figure, ratio_samples
from bench.time_to_file import FINISHED, run_service
from tests.support.media import probe
from tests.support.playlists import make_feed

NAME = "playlist_fanout"
TITLE = "Playlist fan-out: 20 entries with 2 workers vs the sum of 20 single downloads"
NEEDS_WORKER = True

ENTRIES = 20
SECONDS = 4
POLL_INTERVAL = 0.1


def run_playlist(stack: BenchStack, key: str, url: str) -> tuple[float, dict[str, Any]]:
    """One get_playlist, POST to completed (every entry's file downloadable); returns its time and the last view."""
    api = stack.api(key)
    started = time.perf_counter()
    reply = api.call("POST", "/get_playlist", {"url": url})
    if reply.status != 200:
        raise RuntimeError(f"POST /get_playlist answered {reply.status}: {reply.body}")
    view, _ = StatusPoller(api, key, POLL_INTERVAL).until(reply.body["task_id"], FINISHED, started, timeout=900)
    seconds = time.perf_counter() - started
    api.close()
    if view["status"] != "completed" or view["progress"]["completed"] != ENTRIES:
        raise RuntimeError(f"playlist not fully completed: {view.get('progress')} {view.get('error')}")
    return seconds, view


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(3, 1)
    feed = make_feed(ctx.media, [SECONDS] * ENTRIES)
    stack = ctx.stack(WORKER_PROCESSES="2")
    stack.wait_for_workers()
    key = stack.new_key("playlist-fanout")
    work = ctx.work_dir / "playlist-fanout"
    clips = [ctx.media.url(f"{feed.folder.name}/clip{n}.mp4") for n in range(1, ENTRIES + 1)]
    run_service(stack, key, clips[0], work / "warm", {"url": clips[0], "cache": False})  # untimed: first-use costs
    playlists, sums = [], []
    last: dict[str, Any] = {}
    for n in range(repeats):
        seconds, last = run_playlist(stack, key, feed.url)
        playlists.append(seconds)
        singles = [run_service(stack, key, url, work / f"single-{n}-{i}", {"url": url, "cache": False})["total"] for i, url in enumerate(clips)]  # downloads, not shared results
        sums.append(sum(singles))
    # Every entry of the last run is a whole file of the entry's length.
    api = stack.api(key)
    for entry in last["entries"]:
        redirect = api.call("GET", entry["file"])
        path = work / entry["file"].rsplit("/", 1)[1]
        download(redirect.header("Location"), path)
        if abs(probe(path)["duration"] - SECONDS) > 0.5:
            raise RuntimeError(f"entry {entry['index']} is not {SECONDS} s: {probe(path)}")
    api.close()
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(feed.folder, ignore_errors=True)
    return [
        Figure(NAME, f"playlist of {ENTRIES}: POST to every entry downloadable", "s", playlists, note="WORKER_PROCESSES=2"),
        Figure(NAME, f"sum of {ENTRIES} single get_video times", "s", sums, note=f"{SECONDS} s 144p mp4 each"),
        Figure(NAME, "ratio playlist / sum of singles", "x", ratio_samples(playlists, sums), target="report"),
    ]
