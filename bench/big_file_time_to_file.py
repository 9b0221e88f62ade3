"""Figure (b) of the speed issue: time to file for a 300 MB mp4, through the stack (default get_video: the download is
the output, so its parts go to S3 while it runs) beside the bare yt-dlp command line followed by an `aws s3 cp`-
equivalent upload to the same local S3 (boto3's upload_file with TransferConfig's defaults, which are the CLI's:
8 MB parts, 10 at once). Once from the loopback media server as fast as it goes, once with the source capped per
connection as real servers do. Runs alternate between the two, so both see the same machine state; both outputs
are checked against the source (SHA-256, ffprobe). Also the worker's peak memory on a small and on the big file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.harness import BenchStack, Context
from bench.procfs import MemorySampler
from bench.stats import Figure, ratio_samples
from bench.time_to_file import YT_DLP, run_floor, run_service
from tests.support.media import make_large_mp4, probe

NAME = "big_file_time_to_file"
TITLE = "Time to file: 300 MB mp4, stack vs bare yt-dlp + aws s3 cp"
NEEDS_WORKER = True

MEGABYTES = 300
SMALL_MEGABYTES = 30
CAP = 50_000_000  # bytes per second per connection, for the capped variant
MB = 1_000_000


def floor_command(url: str, out_dir: Path) -> list[str]:
    """The bare CLI with its default options; only the output place is set."""
    return [str(YT_DLP), "--quiet", "--no-progress", "--no-cache-dir", "-P", str(out_dir), "-o", "video.%(ext)s", url]


def stack_s3(stack: BenchStack) -> Any:
    """A plain boto3 S3 client on the stack's S3 (s3rver), with the credentials the stack gives it."""
    import boto3

    from infra.local import LOCAL_ENV

    return boto3.client(
        "s3", endpoint_url=stack.settings.aws_endpoint_url_s3, region_name=stack.settings.aws_region,
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def run_floor_and_upload(s3: Any, bucket: str, url: str, out_dir: Path, key: str) -> tuple[float, Path]:
    """The CLI, then the `aws s3 cp` of its file into the stack's bucket; returns the total and the CLI's file."""
    from boto3.s3.transfer import TransferConfig

    started = time.perf_counter()
    _, path = run_floor(url, out_dir, floor_command(url, out_dir))
    s3.upload_file(str(path), bucket, key, Config=TransferConfig())
    return time.perf_counter() - started, path


def worker_file_logs(stack: BenchStack, task_id: str) -> dict[str, Any]:
    """The worker child's "job produced its file" line for a task (after_download, uploaded_ahead)."""
    return next((e for e in stack.worker_entries(task_id) if e.get("message") == "job produced its file"), {})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check(name: str, path: Path, source_hash: str, duration: float) -> None:
    info = probe(path)
    if sha256(path) != source_hash or abs(info["duration"] - duration) > 0.1 or not info["video"] or not info["audio"]:
        raise RuntimeError(f"{name} output is not the source: {info}")


def run_variant(ctx: Context, stack: BenchStack, key: str, url: str, label: str, repeats: int, source: Path) -> list[Figure]:
    work = ctx.work_dir / "big-file"
    source_hash, duration = sha256(source), probe(source)["duration"]
    services, floors, logs = [], [], []
    s3, bucket = stack_s3(stack), stack.settings.media_bucket
    for n in range(repeats):
        service = run_service(stack, key, url, work / f"service-{n}", {"url": url, "cache": False})  # a download each time, not a shared result
        check("service", service["path"], source_hash, duration)
        service["path"].unlink()
        services.append(service)
        logs.append(worker_file_logs(stack, service["task_id"]))
        seconds, path = run_floor_and_upload(s3, bucket, url, work / f"floor-{n}", f"bench/floor-{n}/video.mp4")
        check("floor", path, source_hash, duration)
        head = s3.head_object(Bucket=bucket, Key=f"bench/floor-{n}/video.mp4")
        if head["ContentLength"] != source.stat().st_size:
            raise RuntimeError(f"floor upload has {head['ContentLength']} bytes, not {source.stat().st_size}")
        s3.delete_object(Bucket=bucket, Key=f"bench/floor-{n}/video.mp4")
        floors.append(seconds)
        shutil.rmtree(work, ignore_errors=True)
        time.sleep(0.3)
    totals = [s["total"] for s in services]
    completed = [s["seen"].get("completed", float("nan")) for s in services]
    ratio = Figure(NAME, f"ratio service / floor ({label})", "x", ratio_samples(totals, floors), target="<= 0.80")
    ratio.met = ratio.median <= 0.8
    figures = [
        Figure(NAME, f"service ({label}): POST to last byte through /files", "s", totals, note=f"{source.stat().st_size / MB:.0f} MB",
               detail={"runs": [{k: v for k, v in s.items() if k != "path"} for s in services]}),
        Figure(NAME, f"floor ({label}): yt-dlp CLI, then boto3 upload_file (aws s3 cp defaults)", "s", floors,
               detail={"command": floor_command(url, Path("OUT"))}),
        ratio,
        Figure(NAME, "  service: POST to 'completed' seen (file downloadable)", "s", completed),
        Figure(NAME, "  ratio 'completed' / floor", "x", ratio_samples(completed, floors)),
    ]
    if all("after_download" in entry for entry in logs):
        figures.append(Figure(NAME, "  worker log: download's end to file in S3", "s", [float(e["after_download"]) for e in logs],
                              note=f"uploaded ahead in {sum(bool(e.get('uploaded_ahead')) for e in logs)} of {len(logs)} runs"))
    return figures


def peak_memory(stack: BenchStack, key: str, url: str) -> float:
    """Peak RSS of the worker and everything below it while it runs one get_video of `url`."""
    api = stack.api(key)
    with MemorySampler(stack.worker_pids()[0], 0.05) as sampler:
        reply = api.call("POST", "/get_video", {"url": url, "cache": False})
        task_id = reply.body["task_id"]
        while (view := api.call("GET", f"/status/{task_id}").body)["status"] not in ("completed", "error"):
            time.sleep(0.2)
    api.close()
    if view["status"] != "completed":
        raise RuntimeError(f"memory run failed: {view.get('error')}")
    return sampler.peak_tree / MB


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(3, 1)
    url, source = ctx.large_media_url(MEGABYTES)
    small = ctx.media.root / "medium.mp4"
    if not small.exists():
        make_large_mp4(small, megabytes=SMALL_MEGABYTES)
    stack = ctx.stack(WORKER_PROCESSES="1")
    stack.wait_for_workers()
    key = stack.new_key("big-file")
    work = ctx.work_dir / "big-file"
    run_service(stack, key, ctx.media.url("medium.mp4"), work / "warm", {"url": ctx.media.url("medium.mp4")})  # untimed
    shutil.rmtree(work, ignore_errors=True)
    figures = run_variant(ctx, stack, key, url, "loopback, uncapped", repeats, source)
    ctx.media.set_throttle(CAP, "/large.mp4")
    try:
        figures += run_variant(ctx, stack, key, url, f"source capped at {CAP / MB:.0f} MB/s per connection", repeats, source)
    finally:
        ctx.media.set_throttle(None, "/large.mp4")
    small_peaks = [peak_memory(stack, key, ctx.media.url("medium.mp4")) for _ in range(repeats)]
    big_peaks = [peak_memory(stack, key, url) for _ in range(repeats)]
    figures += [
        Figure(NAME, "worker peak RSS (worker + children), small file", "MB", small_peaks, note=f"{small.stat().st_size / MB:.0f} MB file"),
        Figure(NAME, "worker peak RSS (worker + children), big file", "MB", big_peaks, note=f"{source.stat().st_size / MB:.0f} MB file"),
    ]
    figures[-1].detail = {"loadavg_after": os.getloadavg()}
    return figures
