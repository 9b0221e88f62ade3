"""Worker memory: peak resident memory of a worker process and everything below it (forkserver, job child,
ffmpeg), sampled from /proc, while it processes a file of several hundred MB through the real stack.
"""

from __future__ import annotations

import time

from bench.procfs import MemorySampler, descendants, rss_bytes
from bench.harness import Context
from bench.stats import Figure

NAME = "worker_memory"
TITLE = "Worker peak memory on a several-hundred-MB file"
NEEDS_WORKER = True

MEGABYTES = 300
SAMPLE_INTERVAL = 0.05
MB = 1_000_000


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(2, 1)
    stack = ctx.stack(WORKER_PROCESSES="1")
    stack.wait_for_workers()
    url, path = ctx.large_media_url(MEGABYTES)
    size = path.stat().st_size
    key = stack.new_key("memory")
    api = stack.api(key)
    worker = stack.worker_pids()[0]
    baseline = sum(rss_bytes(pid) for pid in descendants(worker))
    peaks_tree, peaks_pss, seconds = [], [], []
    peaks_by_role: dict[str, list[float]] = {}
    for _ in range(repeats):
        with MemorySampler(worker, SAMPLE_INTERVAL) as sampler:
            started = time.perf_counter()
            reply = api.call("POST", "/get_video", {"url": url, "cache": False})
            if reply.status != 200:
                raise RuntimeError(f"POST /get_video answered {reply.status}: {reply.body}")
            task_id = reply.body["task_id"]
            while (view := api.call("GET", f"/status/{task_id}").body)["status"] not in ("completed", "error"):
                time.sleep(0.2)
            seconds.append(time.perf_counter() - started)
        if view["status"] != "completed":
            raise RuntimeError(f"large file task failed: {view.get('error')}")
        peaks_tree.append(sampler.peak_tree / MB)
        peaks_pss.append(sampler.peak_tree_pss / MB)
        for kind, peak in sampler.peak_by_role.items():
            peaks_by_role.setdefault(kind, []).append(peak / MB)
    api.close()
    figures = [
        Figure(NAME, "peak RSS, worker + children", "MB", peaks_tree, note=f"file {size / MB:.0f} MB"),
        Figure(NAME, "  same as PSS (shared pages counted once)", "MB", peaks_pss),
        Figure(NAME, "  RSS at rest, worker + children", "MB", [baseline / MB]),
    ]
    for kind, peaks in sorted(peaks_by_role.items(), key=lambda kv: -max(kv[1])):
        figures.append(Figure(NAME, f"  peak RSS of {kind}", "MB", peaks))
    figures.append(Figure(NAME, "time for the large file (POST to completed)", "s", seconds))
    return figures
