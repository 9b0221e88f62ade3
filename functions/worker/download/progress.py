"""Task progress: yt-dlp's hook dicts reduced to a few fields, written at most once per interval per task.

Writes happen on the reporter's own thread, so a slow or failing task store never stalls a download; only the
latest value is kept, so a burst of hook calls costs one write.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

Progress = dict[str, Any]
Sink = Callable[[Progress], None]
Clock = Callable[[], float]

STAGES = ("downloading", "processing", "uploading")


class Throttle:
    """At most one event per `interval` seconds of `clock` (pure: the caller decides what to do when not ready)."""

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def wait_time(self) -> float:
        """Seconds until the next event is allowed (0 when it is allowed now)."""
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.interval - self._clock())

    def ready(self) -> bool:
        return self.wait_time() <= 0

    def mark(self) -> None:
        """Record that an event happened now."""
        self._last = self._clock()


class ProgressReporter:
    """Keeps the latest progress of one task and hands it to `sink` at most once per `interval`."""

    def __init__(self, sink: Sink, interval: float = 1.0, clock: Clock = time.monotonic) -> None:
        self._sink = sink
        self._throttle = Throttle(interval, clock)
        self._cond = threading.Condition()
        self._pending: Progress | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="progress-writer", daemon=True)
        self._thread.start()

    def report(self, progress: Mapping[str, Any]) -> None:
        """Offer a new value; older unwritten values are dropped."""
        with self._cond:
            if self._closed:
                return
            self._pending = dict(progress)
            self._cond.notify()

    def close(self, flush: bool = False, timeout: float = 5.0) -> None:
        """Stop the writer; with `flush`, the last pending value is written first (throttle permitting)."""
        with self._cond:
            if not flush:
                self._pending = None
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                delay = self._throttle.wait_time()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                value, self._pending = self._pending, None
                self._throttle.mark()
            try:
                self._sink(value)
            except Exception as err:  # progress is best effort: never let it end a job
                log.warning("progress write failed", extra={"error": str(err)})


def download_progress(hook: Mapping[str, Any]) -> Progress | None:
    """The progress of a yt-dlp progress-hook call (None for calls that carry nothing new)."""
    if hook.get("status") != "downloading":
        return None
    downloaded = _int(hook.get("downloaded_bytes"))
    total = _int(hook.get("total_bytes")) or _int(hook.get("total_bytes_estimate"))
    return make_progress("downloading", downloaded, total, hook.get("speed"), hook.get("eta"))


def make_progress(stage: str, done: int | None, total: int | None, speed: Any = None, eta: Any = None) -> Progress:
    """The progress shape /status shows: stage, percent, downloaded_bytes (of this stage), total_bytes, speed, eta."""
    percent = None
    if done is not None and total:
        percent = round(min(100.0, 100.0 * done / total), 1)
    return {
        "stage": stage,
        "percent": percent,
        "downloaded_bytes": done,
        "total_bytes": total,
        "speed": _int(speed),
        "eta": _int(eta),
    }


class TransferMeter:
    """Counts bytes of an upload (boto3's callback gives increments, from several threads) for progress."""

    def __init__(self, total: int, report: Callable[[Progress], None], clock: Clock = time.monotonic) -> None:
        self._total = total
        self._report = report
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, increment: int) -> None:
        with self._lock:
            self._done += increment
            done = self._done
        elapsed = max(self._clock() - self._started, 1e-6)
        speed = done / elapsed
        eta = (self._total - done) / speed if speed > 0 else None
        self._report(make_progress("uploading", done, self._total, speed, eta))


class GrowthMeter:
    """Progress of a download whose tool reports none while it runs: ffmpeg recording a live stream or cutting a clip.

    Every `interval` it reports the bytes written so far into `folder`, with speed; for a recording of known
    `duration`, also how far through it is (an estimated total, percent and ETA by the clock).
    """

    def __init__(self, folder: Path, report: Callable[[Progress], None], interval: float = 1.0, duration: float | None = None, clock: Clock = time.monotonic) -> None:
        self._folder = folder
        self._report = report
        self._interval = interval
        self._duration = duration
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._started = self._clock()
        self._thread = threading.Thread(target=self._run, name="growth-meter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (idempotent; the download is over or processing has begun)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._interval + 1)

    def measure(self) -> Progress:
        done = sum(_size(p) for p in self._folder.rglob("*"))
        elapsed = max(self._clock() - self._started, 1e-6)
        speed = done / elapsed
        if not self._duration:
            return make_progress("downloading", done, None, speed)
        fraction = min(elapsed / self._duration, 1.0)
        total = int(done / fraction) if done and fraction > 0 else None
        return make_progress("downloading", done, total, speed, max(0.0, self._duration - elapsed))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._report(self.measure())
            except OSError:
                continue  # the folder changed under the walk; the next tick sees it settled


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:  # renamed or removed by ffmpeg/yt-dlp meanwhile
        return 0


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None
