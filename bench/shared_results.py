"""Shared results: time to file of a cache hit (POST /get_video answered completed, GET /status, /files followed to
the last byte of the presigned download) beside a fresh download of the same clip, and the media server's request
count to show the hit downloaded nothing. Each run uses its own copy of the 60 s mp4 (a new URL, nothing shared
with the other runs); the hit comes from another key (RESULT_SHARING=global, the default).
"""

from __future__ import annotations

import shutil
import time

from bench.harness import Context, clip_body
from bench.stats import Figure
from bench.time_to_file import run_service
from tests.support.media import probe

NAME = "shared_results"
TITLE = "Shared results: time to file of a cache hit vs a fresh download"
NEEDS_WORKER = True
GOAL_SECONDS = 0.2


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(7, 3)
    stack = ctx.stack(WORKER_PROCESSES="1")
    owner, other = stack.new_key("shared-owner"), stack.new_key("shared-hit")
    media, work = ctx.media, ctx.work_dir / "shared-results"
    fresh, hits, hit_gets = [], [], []
    for n in range(repeats + 1):  # run 0 is an untimed warm-up (first-use costs of the API's clients)
        folder = f"shared-{n}-{time.monotonic_ns()}"
        (media.root / folder).mkdir()
        shutil.copy(media.root / "video.mp4", media.root / folder / "video.mp4")
        url, path = media.url(f"{folder}/video.mp4"), f"/{folder}/video.mp4"
        body = {**clip_body(url), "cache": True}
        downloaded = run_service(stack, owner, url, work / f"fresh-{n}", body)
        before = len(media.requests_for(path))
        hit = run_service(stack, other, url, work / f"hit-{n}", body)
        if n == 0:
            continue
        fresh.append(downloaded)
        hits.append(hit)
        hit_gets.append(len(media.requests_for(path)) - before)
        time.sleep(0.3)
    hit_probe, fresh_probe = probe(hits[0]["path"]), probe(fresh[0]["path"])
    shutil.rmtree(work, ignore_errors=True)
    if abs(hit_probe["duration"] - fresh_probe["duration"]) > 0.1 or hit_probe["size"] != fresh_probe["size"]:
        raise RuntimeError(f"the cache hit's file is not the download's: {hit_probe} vs {fresh_probe}")
    if any(hit_gets):
        raise RuntimeError(f"a cache hit reached the media server: {hit_gets} requests")
    hit_totals = [h["total"] for h in hits]
    figures = [
        Figure(NAME, "cache hit: POST to last byte of the file", "s", hit_totals, target=f"< {GOAL_SECONDS} s",
               note=f"clip {hit_probe['duration']:.1f} s, {hit_probe['size']} B; 0 media requests",
               detail={"runs": [{k: v for k, v in h.items() if k != "path"} for h in hits]}),
        Figure(NAME, "fresh download: POST to last byte of the file", "s", [f["total"] for f in fresh],
               note=f"clip {fresh_probe['duration']:.1f} s", detail={"runs": [{k: v for k, v in f.items() if k != "path"} for f in fresh]}),
        Figure(NAME, "  cache hit: POST answered (completed)", "s", [h["accepted"] for h in hits]),
        Figure(NAME, "  cache hit: 307 from /files received", "s", [h["redirected"] for h in hits]),
    ]
    figures[0].met = figures[0].median < GOAL_SECONDS
    return figures
