"""Progress: yt-dlp's hook dicts reduced to the fields /status shows, written at most once per interval."""

from __future__ import annotations

import threading
import time

from functions.worker.download.progress import GrowthMeter, ProgressReporter, Throttle, TransferMeter, download_progress, make_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_worker_progress_throttle_allows_one_event_per_interval():
    clock = FakeClock()
    throttle = Throttle(1.0, clock)
    assert throttle.ready()
    throttle.mark()
    clock.now += 0.4
    assert not throttle.ready() and abs(throttle.wait_time() - 0.6) < 1e-9
    clock.now += 0.6
    assert throttle.ready()


def test_worker_progress_reporter_writes_at_most_once_per_interval_and_keeps_the_latest():
    writes: list[tuple[float, dict]] = []
    done = threading.Event()

    def sink(progress: dict) -> None:
        writes.append((time.monotonic(), progress))
        if progress["downloaded_bytes"] == 4999:
            done.set()

    reporter = ProgressReporter(sink, interval=0.2)
    started = time.monotonic()
    for i in range(5000):  # a burst of hook calls, as a fast download makes
        reporter.report(make_progress("downloading", i, 5000))
        if i % 500 == 0:
            time.sleep(0.05)
    assert done.wait(2), writes[-1:]
    reporter.close()
    elapsed = time.monotonic() - started
    assert 2 <= len(writes) <= elapsed / 0.2 + 2
    gaps = [b[0] - a[0] for a, b in zip(writes, writes[1:])]
    assert min(gaps) >= 0.19
    assert writes[-1][1]["downloaded_bytes"] == 4999  # the last value is not lost


def test_worker_progress_a_failing_store_never_breaks_the_download():
    calls = []

    def sink(progress: dict) -> None:
        calls.append(progress)
        raise RuntimeError("DynamoDB is down")

    reporter = ProgressReporter(sink, interval=0.01)
    reporter.report(make_progress("downloading", 1, 10))
    time.sleep(0.1)
    reporter.report(make_progress("downloading", 2, 10))
    reporter.close(flush=True)
    assert len(calls) >= 1


def test_worker_progress_from_a_ytdlp_hook():
    hook = {"status": "downloading", "downloaded_bytes": 2_500_000, "total_bytes": 10_000_000, "speed": 1234567.8, "eta": 6.2, "filename": "/x", "info_dict": {}}
    assert download_progress(hook) == {
        "stage": "downloading",
        "percent": 25.0,
        "downloaded_bytes": 2_500_000,
        "total_bytes": 10_000_000,
        "speed": 1234567,
        "eta": 6,
    }


def test_worker_progress_uses_the_estimate_for_fragmented_downloads():
    hook = {"status": "downloading", "downloaded_bytes": 300, "total_bytes_estimate": 1200.0, "speed": None, "eta": None}
    assert download_progress(hook)["percent"] == 25.0
    assert download_progress({"status": "downloading", "downloaded_bytes": 5})["percent"] is None
    assert download_progress({"status": "finished", "downloaded_bytes": 5}) is None


def test_worker_progress_upload_meter_counts_increments():
    seen: list[dict] = []
    clock = FakeClock()
    meter = TransferMeter(1000, seen.append, clock)
    clock.now += 1
    meter(250)
    meter(250)
    assert seen[-1]["stage"] == "uploading"
    assert seen[-1]["downloaded_bytes"] == 500 and seen[-1]["percent"] == 50.0
    assert seen[-1]["speed"] == 500 and seen[-1]["eta"] == 1


def test_worker_progress_growth_meter_measures_what_ffmpeg_has_written(tmp_path):
    # GIVEN a 10 s recording 4 s in, with 400 kB written in two files (video and audio parts)
    clock = FakeClock()
    meter = GrowthMeter(tmp_path, lambda p: None, interval=1.0, duration=10, clock=clock)
    clip = GrowthMeter(tmp_path, lambda p: None, clock=clock)
    clock.now += 4
    (tmp_path / "video.f1.mp4.part").write_bytes(b"v" * 300_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "audio.f2.m4a.part").write_bytes(b"a" * 100_000)
    # THEN the bytes, speed, an estimated total, percent and ETA by the clock
    assert meter.measure() == {"stage": "downloading", "percent": 40.0, "downloaded_bytes": 400_000, "total_bytes": 1_000_000, "speed": 100_000, "eta": 6}
    # AND a clip (no duration) reports bytes and speed only
    assert clip.measure() == {"stage": "downloading", "percent": None, "downloaded_bytes": 400_000, "total_bytes": None, "speed": 100_000, "eta": None}


def test_worker_progress_growth_meter_reports_while_running_and_stops(tmp_path):
    reports = []
    meter = GrowthMeter(tmp_path, reports.append, interval=0.05, duration=60)
    meter.start()
    (tmp_path / "live.ts.part").write_bytes(b"x" * 1000)
    deadline = time.monotonic() + 5
    while len(reports) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    meter.stop()
    count = len(reports)
    time.sleep(0.2)
    assert count >= 2 and len(reports) == count
    assert reports[-1]["stage"] == "downloading" and reports[-1]["downloaded_bytes"] == 1000
