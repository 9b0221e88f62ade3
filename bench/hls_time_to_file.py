"""Figure (a) of the speed issue: time to file for a 60 s HLS VOD (two video renditions, separate audio) served at
a cap of 1 MB/s per connection, through the stack (default get_video: best video + best audio into mp4, with
FRAGMENT_CONCURRENCY fragments at once) beside the bare yt-dlp command line with its default options. Runs
alternate between the two, so both see the same machine state.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.harness import Context
from bench.stats import Figure, ratio_samples
from bench.time_to_file import YT_DLP, run_floor, run_service
from tests.support.media import make_hls_vod, probe

NAME = "hls_time_to_file"
TITLE = "Time to file: 60 s HLS at 1 MB/s per connection, stack vs bare yt-dlp"
NEEDS_WORKER = True

SECONDS = 60
CAP = 1_000_000  # bytes per second per connection
FOLDER = "hls60"


def floor_command(url: str, out_dir: Path) -> list[str]:
    """The bare CLI with its default options (format selection, merge); only the output place is set."""
    return [str(YT_DLP), "--quiet", "--no-progress", "--no-cache-dir", "-P", str(out_dir), "-o", "video.%(ext)s", url]


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(5, 2)
    media = ctx.media
    master = media.root / FOLDER / "master.m3u8"
    if not master.exists():
        make_hls_vod(media.root / FOLDER, seconds=SECONDS)
    media.set_throttle(CAP, f"/{FOLDER}/")
    url = media.url(f"{FOLDER}/master.m3u8")
    stack = ctx.stack(WORKER_PROCESSES="1")
    key = stack.new_key("hls-time-to-file")
    work = ctx.work_dir / "hls-time-to-file"
    body = {"url": url, "cache": False}  # a download each time, not a shared result
    run_service(stack, key, url, work / "warm", body)  # untimed: first-use costs are not what we measure
    services, floors = [], []
    for n in range(repeats):
        services.append(run_service(stack, key, url, work / f"service-{n}", body))
        out = work / f"floor-{n}"
        floors.append(run_floor(url, out, floor_command(url, out))[0])
        time.sleep(0.3)
    service_probe, floor_probe = probe(services[0]["path"]), probe(next((work / "floor-0").glob("video.*")))
    shutil.rmtree(work, ignore_errors=True)
    media.set_throttle(None, f"/{FOLDER}/")
    for name, info in (("service", service_probe), ("floor", floor_probe)):
        if abs(info["duration"] - SECONDS) > 1 or info["video"]["height"] != 360 or not info["audio"]:
            raise RuntimeError(f"{name} output is not the whole 360p stream with audio: {info}")

    totals = [s["total"] for s in services]
    ratio = Figure(NAME, "ratio service / floor", "x", ratio_samples(totals, floors), target="<= 0.50")
    ratio.met = ratio.median <= 0.5
    return [
        Figure(NAME, "service: POST to last byte of the file", "s", totals, note=f"{service_probe['duration']:.1f} s at 360p",
               detail={"runs": [{k: v for k, v in s.items() if k != "path"} for s in services]}),
        Figure(NAME, "floor: bare yt-dlp CLI, default options", "s", floors, note=f"{floor_probe['duration']:.1f} s at 360p",
               detail={"command": floor_command(url, Path("OUT"))}),
        ratio,
    ]
