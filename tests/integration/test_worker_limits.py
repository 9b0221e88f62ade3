"""MAX_FILESIZE and MAX_DURATION stop real downloads of the YouTube-like media with a readable, permanent error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.worker.download.errors import classify
from functions.worker.download.limits import LimitExceeded
from functions.worker.download.progress import ProgressReporter
from functions.worker.download.runner import YtdlpLogger, fetch
from functions.worker.settings import WorkerSettings
from tests.support.media import probe

pytestmark = pytest.mark.integration


def _fetch(url: str, job_dir: Path, params: dict[str, Any], **limits: Any) -> Path:
    task = {"task_id": job_dir.name, "task_type": "get_video", "url": url, "params": params}
    reporter = ProgressReporter(lambda _p: None, 60)
    try:
        return fetch(task, job_dir, WorkerSettings(socket_timeout=10, **limits), reporter, YtdlpLogger(), None)
    finally:
        reporter.close()


def test_worker_limits_refuse_dash_media_longer_than_max_duration(youtube_like_urls, tmp_path):
    # GIVEN an 8 s DASH manifest and MAX_DURATION 5 s, WHEN the whole of it is asked for, THEN the job fails
    # before any segment is downloaded (the length comes from the manifest's fragments)
    with pytest.raises(LimitExceeded, match="0:00:08 long.*at most 0:00:05") as caught:
        _fetch(youtube_like_urls["dash"], tmp_path / "long", {"output_format": "mkv"}, max_duration=5)
    assert classify(caught.value).permanent
    job_dir = tmp_path / "long"
    assert not job_dir.exists() or not [p for p in job_dir.iterdir() if p.suffix in (".webm", ".mp4", ".m4s", ".mkv", ".part")]


def test_worker_limits_take_a_clip_that_fits_max_duration(youtube_like_urls, tmp_path):
    path = _fetch(youtube_like_urls["dash"], tmp_path / "clip", {"output_format": "mkv", "start_time": 2, "end_time": 6}, max_duration=5)
    assert abs(probe(path)["duration"] - 4.0) < 0.35


def test_worker_limits_measure_a_source_that_does_not_say_its_length(youtube_like_urls, tmp_path):
    # A progressive file: the generic extractor knows no duration, the finished download is measured.
    with pytest.raises(LimitExceeded, match="long"):
        _fetch(youtube_like_urls["webm"], tmp_path / "webm", {"output_format": "webm"}, max_duration=2)


@pytest.mark.parametrize("params", [{"output_format": "webm"}, {"output_format": "mkv", "start_time": 1, "end_time": 3}])
def test_worker_limits_stop_a_download_past_max_filesize(youtube_like_urls, tmp_path, params):
    # GIVEN MAX_FILESIZE far below the media's size, WHEN downloaded natively or by ffmpeg (a clip), THEN it stops
    url = youtube_like_urls["webm" if "start_time" not in params else "dash"]
    with pytest.raises(LimitExceeded, match="largest file"):
        _fetch(url, tmp_path / "big", params, max_filesize=20_000)
