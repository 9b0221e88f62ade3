"""The worker as a real process (`python -m functions.worker`) against the emulator server, with media served
from 127.0.0.1: every task type ends with the right file in the bucket, checked with ffprobe."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.stack import DeployedStack
from tests.support.worker import (
    Queues,
    WorkerProcess,
    emulator,  # noqa: F401  (fixture)
    fetch_output,
    get_task,
    make_queues,
    probe_output,
    queue_counts,
    descendants,
    submit,
    task_objects,
    wait_for_task,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def queues(emulator: DeployedStack) -> Queues:  # noqa: F811
    return make_queues(emulator, visibility=10)


@pytest.fixture(scope="module")
def worker(emulator: DeployedStack, queues: Queues, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:  # noqa: F811
    """One worker process for the whole module (4 jobs at once), as a deployment would run it."""
    root = tmp_path_factory.mktemp("worker-jobs")
    process = WorkerProcess(emulator, queues.url, root / "worker.log", {"SCRATCH_DIR": str(root / "scratch"), "MAX_WORKERS": "4"}).start()
    yield process
    process.stop()


def copy_media(media_dir: Path, name: str, prefix: str) -> str:
    """A private copy of a session file, so request counts and throttles only concern one test."""
    target = f"{prefix}-{uuid.uuid4().hex[:8]}{Path(name).suffix}"
    shutil.copyfile(media_dir / name, media_dir / target)
    return target


def run_task(stack: DeployedStack, queues: Queues, worker: WorkerProcess, task_type: str, url: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
    task_id = submit(stack, queues, task_type, url, params)
    return wait_for_task(stack, task_id, timeout=timeout, worker=worker)


def test_worker_video_clip_with_force_keyframes_is_cut_exactly(emulator, queues, worker, media_urls, tmp_path):  # noqa: F811
    params = {"video_format": "bestvideo", "audio_format": "bestaudio", "output_format": "mp4", "start_time": 2.5, "end_time": 7.5, "force_keyframes": True}
    task = run_task(emulator, queues, worker, "get_video", media_urls["mp4"], params)
    assert task["status"] == "completed", task
    assert task["file_name"] == "video.mp4" and "progress" not in task
    info = probe_output(emulator, task, tmp_path)
    assert info["video"]["height"] == 360 and info["audio"] is not None
    assert abs(info["duration"] - 5.0) <= 0.5
    assert task_objects(emulator, task["task_id"]) == [f"tasks/{task['task_id']}/video.mp4"]


def test_worker_hls_master_with_height_filter_gives_240p(emulator, queues, worker, media_urls, tmp_path):  # noqa: F811
    params = {"video_format": "bestvideo[height<=240]", "audio_format": "bestaudio", "output_format": "mp4"}
    task = run_task(emulator, queues, worker, "get_video", media_urls["hls_master"], params)
    assert task["status"] == "completed", task
    info = probe_output(emulator, task, tmp_path)
    assert info["video"]["height"] == 240
    assert info["audio"]["codec_name"] == "aac"
    assert abs(info["duration"] - 20) <= 1


def _nice(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, IndexError, ValueError):
        return None


def _autogroup_nice(pid: int) -> int | None:
    """The nice of the process's session as Linux's autogroup scheduler ranks it; None without autogroups."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, IndexError, ValueError):
        return None


def test_worker_fetches_hls_fragments_concurrently_at_lower_cpu_priority(emulator, queues, worker, media_dir, media_server, tmp_path):  # noqa: F811
    """A per-connection cap on the segments: the job fetches several at once (FRAGMENT_CONCURRENCY, default 4),
    its process runs below the worker (JOB_NICE, default 10), and so does its session (a job leads its own, and
    autogroup scheduling would give it a share equal to the API's), and the output is the whole 20 s at 240p."""
    prefix = f"hls-{uuid.uuid4().hex[:8]}"
    shutil.copytree(media_dir / "hls", media_dir / prefix)
    media_server.set_throttle(150_000, f"/{prefix}/")
    task_id = submit(emulator, queues, "get_video", media_server.url(f"{prefix}/master.m3u8"),
                     {"video_format": "bestvideo[height<=240]", "audio_format": "bestaudio", "output_format": "mp4"})
    worker_nice = _nice(worker.pid)
    job_nices: set[int] = set()
    job_groups: set[int | None] = set()
    deadline = time.monotonic() + 180  # the job yields the CPU to everything else: slow on a busy machine
    while time.monotonic() < deadline:
        task = get_task(emulator, task_id)
        if task["status"] in ("completed", "error"):
            break
        jobs = [pid for pid in descendants(worker.pid) if _nice(pid) not in (None, worker_nice)]
        job_nices |= {n for n in map(_nice, jobs) if n is not None}
        job_groups |= {_autogroup_nice(pid) for pid in jobs}
        time.sleep(0.1)
    assert task["status"] == "completed", task
    assert media_server.peak_concurrency(f"/{prefix}/v240/") >= 2
    assert job_nices == {worker_nice + 10}
    assert job_groups == ({worker_nice + 10} if Path("/proc/self/autogroup").exists() else {None})
    info = probe_output(emulator, task, tmp_path)
    assert info["video"]["height"] == 240 and info["audio"]["codec_name"] == "aac"
    assert abs(info["duration"] - 20) <= 1


def test_worker_audio_converted_to_mp3(emulator, queues, worker, media_urls, tmp_path):  # noqa: F811
    task = run_task(emulator, queues, worker, "get_audio", media_urls["mp4"], {"audio_format": "bestaudio", "output_format": "mp3"})
    assert task["status"] == "completed", task
    assert task["file_name"] == "audio.mp3"
    info = probe_output(emulator, task, tmp_path)
    assert info["video"] is None and info["audio"]["codec_name"] == "mp3"
    assert abs(info["duration"] - 60) <= 1


def test_worker_info_is_written_as_json(emulator, queues, worker, media_urls, tmp_path):  # noqa: F811
    task = run_task(emulator, queues, worker, "get_info", media_urls["mp4"])
    assert task["status"] == "completed", task
    assert task["file_name"] == "info.json"
    info = json.loads(fetch_output(emulator, task, tmp_path).read_text())
    assert info["webpage_url"] == media_urls["mp4"]
    assert info["formats"] and info["extractor"] == "generic"


def test_worker_records_n_seconds_of_a_live_stream(emulator, queues, worker, live_stream, tmp_path):  # noqa: F811
    started = time.monotonic()
    task = run_task(emulator, queues, worker, "get_live_video", live_stream.url, {"start": 0, "duration": 4, "output_format": "mp4"})
    elapsed = time.monotonic() - started
    assert task["status"] == "completed", task
    info = probe_output(emulator, task, tmp_path)
    assert 3.5 <= info["duration"] <= 5.0
    assert info["video"]["height"] == 240 and info["audio"] is not None
    assert elapsed >= 3  # starting at the live edge, 4 s of stream take about that long to arrive


def test_worker_permanent_error_ends_the_task_at_once_with_a_readable_message(emulator, queues, worker, media_server):  # noqa: F811
    started = time.monotonic()
    task = run_task(emulator, queues, worker, "get_video", media_server.url("no-such-video.mp4"))
    assert task["status"] == "error"
    assert task["error"] == "HTTP Error 404: Not Found"
    assert task["attempts"] == 1
    assert time.monotonic() - started < 10


def test_worker_duplicate_message_does_no_second_download(emulator, queues, worker, media_dir, media_server):  # noqa: F811
    # Baseline: the requests one download of this file makes.
    single = copy_media(media_dir, "video.mp4", "single")
    assert run_task(emulator, queues, worker, "get_video", media_server.url(single))["status"] == "completed"
    baseline = len(media_server.requests_for(f"/{single}"))

    name = copy_media(media_dir, "video.mp4", "dup")
    media_server.set_throttle(600_000, f"/{name}")  # long enough for the duplicate to arrive mid-download
    task_id = submit(emulator, queues, "get_video", media_server.url(name))
    queues.jobs.send(task_id)
    task = wait_for_task(emulator, task_id, worker=worker)
    assert task["status"] == "completed" and task["attempts"] == 1
    deadline = time.monotonic() + 10
    while queue_counts(emulator, queues.url) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert queue_counts(emulator, queues.url) == (0, 0)  # both messages settled
    assert len(media_server.requests_for(f"/{name}")) == baseline
    assert task_objects(emulator, task_id) == [f"tasks/{task_id}/video.mp4"]


def test_worker_progress_moves_during_a_throttled_download(emulator, queues, worker, media_dir, media_server):  # noqa: F811
    name = copy_media(media_dir, "video.mp4", "slow")
    size = (media_dir / name).stat().st_size
    media_server.set_throttle(400_000, f"/{name}")
    task_id = submit(emulator, queues, "get_video", media_server.url(name))
    seen: list[dict[str, Any]] = []
    started = time.monotonic()
    while time.monotonic() - started < 60:
        task = get_task(emulator, task_id)
        if task["status"] in ("completed", "error"):
            break
        progress = task.get("progress")
        if progress and (not seen or progress != seen[-1]):
            seen.append(progress)
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert task["status"] == "completed", task
    downloading = [p for p in seen if p["stage"] == "downloading"]
    assert len(downloading) >= 3, seen
    sizes = [p["downloaded_bytes"] for p in downloading]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert all(p["total_bytes"] == size and 0 <= p["percent"] <= 100 for p in downloading)
    assert all(set(p) == {"stage", "percent", "downloaded_bytes", "total_bytes", "speed", "eta"} for p in seen)
    assert len(seen) <= elapsed / 1.0 + 3  # at most about one write per second
