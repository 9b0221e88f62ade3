"""Time to file: a 10 s clip (20 s to 30 s) cut from a 60 s local mp4, from POST /get_video to the last byte
downloaded through /files (the 307 followed to the presigned link), beside the bare yt-dlp command line doing the
same clip on the same machine (the floor). Runs alternate between the two, so both see the same machine state.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.client import StatusPoller, download
from bench.harness import CLIP_SECONDS, BenchStack, Context, clip_body
from bench.stats import Figure, ratio_samples
from tests.support.media import probe
from tests.support.stack import ROOT

NAME = "time_to_file"
TITLE = "Time to file: 10 s clip through the stack vs bare yt-dlp"
NEEDS_WORKER = True

POLL_INTERVAL = 0.025
YT_DLP = ROOT / ".venv" / "bin" / "yt-dlp"
FINISHED = frozenset({"completed", "error"})


def floor_command(url: str, out_dir: Path) -> list[str]:
    """The bare CLI with the worker's format selection and merge (functions/worker/download/options.py, video to mp4)."""
    start, end = CLIP_SECONDS
    return [
        str(YT_DLP), "--quiet", "--no-progress", "--no-playlist", "--no-cache-dir",
        "--download-sections", f"*{start}-{end}",
        "-f", "bestvideo+bestaudio/best", "--merge-output-format", "mp4/mkv", "--remux-video", "mp4",
        "-P", str(out_dir), "-o", "video.%(ext)s", url,
    ]  # fmt: skip


def run_floor(url: str, out_dir: Path, command: list[str] | None = None) -> tuple[float, Path]:
    """The bare CLI (the clip's `floor_command` unless `command` is given); returns its time and its file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command or floor_command(url, out_dir), capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"yt-dlp floor failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, next(out_dir.glob("video.*"))


def run_service(stack: BenchStack, key: str, url: str, out_dir: Path, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One get_video (the clip unless `body` says otherwise) through the stack; returns the total and the moments
    each stage was first seen."""
    api = stack.api(key)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reply = api.call("POST", "/get_video", body or clip_body(url))
    if reply.status != 200:
        raise RuntimeError(f"POST /get_video answered {reply.status}: {reply.body}")
    accepted = time.perf_counter() - started
    task_id = reply.body["task_id"]
    view, seen = StatusPoller(api, key, POLL_INTERVAL).until(task_id, FINISHED, started)
    if view["status"] != "completed":
        raise RuntimeError(f"task failed: {view.get('error')}")
    redirect = api.call("GET", view["file"])
    location = redirect.header("Location")
    if redirect.status != 307 or not location:
        raise RuntimeError(f"/files answered {redirect.status}: {redirect.body}")
    redirected = time.perf_counter() - started
    path = out_dir / view["file"].rsplit("/", 1)[1]
    size = download(location, path)
    total = time.perf_counter() - started
    api.close()
    return {"task_id": task_id, "total": total, "accepted": accepted, "seen": seen, "redirected": redirected, "bytes": size, "path": path}


def worker_timings(stack: BenchStack, task_id: str) -> dict[str, float]:
    """What the worker's own JSON logs say about one task: its run time, and the child's time to its file."""
    out: dict[str, float] = {}
    for entry in stack.worker_entries(task_id):
        if "seconds" not in entry:
            continue
        if entry.get("message") == "job produced its file":
            out["child_to_file"] = float(entry["seconds"])
        elif entry.get("message") == "job completed":
            out["job_run"] = float(entry["seconds"])
    return out


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(7, 3)
    stack = ctx.stack(WORKER_PROCESSES="1")
    key = stack.new_key("time-to-file")
    url = ctx.media.url("video.mp4")
    work = ctx.work_dir / "time-to-file"
    # Untimed warm-up of both: first-use costs (the API's clients, page cache, pyc files) are not what we measure.
    run_service(stack, key, url, work / "warm-service")
    run_floor(url, work / "warm-floor")
    services, floors = [], []
    for n in range(repeats):
        services.append(run_service(stack, key, url, work / f"service-{n}"))
        floors.append(run_floor(url, work / f"floor-{n}")[0])
        time.sleep(0.3)  # let the worker go back to its long poll
    service_probe, floor_probe = probe(services[0]["path"]), probe(next((work / "floor-0").glob("video.*")))
    shutil.rmtree(work, ignore_errors=True)

    totals = [s["total"] for s in services]
    stage = lambda name: [s["seen"].get(name, float("nan")) for s in services]  # noqa: E731
    timings = [worker_timings(stack, s["task_id"]) for s in services]
    ratio = Figure(NAME, "ratio service / floor", "x", ratio_samples(totals, floors), target="<= 1.00 (at or below the floor)")
    ratio.met = ratio.median <= 1.0
    outputs = {"service": {k: service_probe[k] for k in ("duration", "size")}, "floor": {k: floor_probe[k] for k in ("duration", "size")}}
    figures = [
        Figure(NAME, "service: POST to last byte of the file", "s", totals, note=f"clip {service_probe['duration']:.1f} s",
               detail={"runs": [{k: v for k, v in s.items() if k != "path"} for s in services], "outputs": outputs}),
        Figure(NAME, "floor: bare yt-dlp CLI, same clip", "s", floors, note=f"clip {floor_probe['duration']:.1f} s",
               detail={"command": floor_command(url, Path("OUT"))}),
        ratio,
        Figure(NAME, "  POST answered", "s", [s["accepted"] for s in services]),
        Figure(NAME, "  'processing' first seen", "s", stage("processing")),
        Figure(NAME, "  'completed' first seen", "s", stage("completed")),
        Figure(NAME, "  307 from /files received", "s", [s["redirected"] for s in services]),
    ]
    if all("child_to_file" in t for t in timings):
        figures.append(Figure(NAME, "  worker log: job child, start to file uploaded", "s", [t["child_to_file"] for t in timings]))
    if all("job_run" in t for t in timings):
        figures.append(Figure(NAME, "  worker log: job run (fork to child exit)", "s", [t["job_run"] for t in timings]))
    return figures
