"""MAX_FILESIZE and MAX_DURATION as the worker applies them to what yt-dlp extracted and downloads."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from functions.worker.download.errors import classify
from functions.worker.download.limits import LimitExceeded, Limits
from functions.worker.download.options import build_plan

GIB = 1024**3
LIMITS = Limits(max_filesize=4 * GIB, max_duration=4 * 3600)


def test_worker_limits_refuse_media_longer_than_max_duration():
    with pytest.raises(LimitExceeded, match="5:00:00 long.*at most 4:00:00"):
        LIMITS.match_filter({"duration": 5 * 3600})
    assert classify(LimitExceeded("x")).permanent


def test_worker_limits_take_a_clip_of_long_media_and_any_live_stream():
    clip = Limits(max_filesize=4 * GIB, max_duration=4 * 3600, clip=(3600, 3 * 3600))
    clip.match_filter({"duration": 10 * 3600, "filesize": 3 * GIB})  # 2 h of 10 h: about 0.6 GiB
    LIMITS.match_filter({"duration": None, "is_live": True})
    LIMITS.match_filter({"duration": 10 * 3600, "live_status": "is_live"})


def test_worker_limits_refuse_a_known_size_over_max_filesize_summing_merged_formats():
    with pytest.raises(LimitExceeded, match="about 5,120 MiB"):
        LIMITS.match_filter({"requested_formats": [{"filesize": 4 * GIB}, {"filesize_approx": 1 * GIB}]})
    LIMITS.match_filter({"requested_formats": [{"filesize": 4 * GIB}, {}]})  # unknown: left to the download


def test_worker_limits_stop_a_download_that_grows_past_the_size():
    LIMITS.check_progress(4 * GIB)
    with pytest.raises(LimitExceeded):
        LIMITS.check_progress(4 * GIB + 1)
    LIMITS.check_progress(None)


def test_worker_limits_ignore_incomplete_info():
    LIMITS.match_filter({"duration": math.inf, "filesize": 10 * GIB}, incomplete=True)


def test_worker_options_carry_the_limits_to_yt_dlp_and_ffmpeg():
    task = {"task_type": "get_video", "params": {"start_time": 10, "end_time": 20}}
    plan = build_plan(task, Path("/tmp/x"), max_filesize=1000, max_duration=60)
    assert plan.limits == Limits(max_filesize=1000, max_duration=60, clip=(10.0, 20.0))
    assert plan.ydl_opts["match_filter"] == plan.limits.match_filter
    assert plan.ydl_opts["external_downloader_args"]["ffmpeg_o"] == ["-fs", "1000"]
    live = build_plan({"task_type": "get_live_video", "params": {"duration": 10}}, Path("/tmp/x"), max_filesize=1000, max_duration=60)
    assert live.limits is not None and live.limits.live


def test_worker_limits_read_a_manifest_length_from_its_fragments():
    info = {"requested_formats": [{"fragments": [{"path": "init"}] + [{"duration": 2.0}] * 4}, {"fragments": [{"duration": 2.0}] * 5}]}
    with pytest.raises(LimitExceeded, match="0:00:10 long"):
        Limits(max_filesize=GIB, max_duration=5).match_filter(info)
