"""The worker's yt-dlp option builder: a pure function of the task, checked for every task type and output."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from yt_dlp.utils import download_range_func

from functions.worker.download.options import (
    FFMPEG_PROTOCOLS,
    GifSpec,
    OptionsError,
    build_plan,
    live_start_index,
    media_playlist_durations,
)

SCRATCH = Path("/scratch/w-1/abcdefghijklmnop")


def task(task_type: str, **params: object) -> dict[str, object]:
    return {"task_id": "abcdefghijklmnop", "task_type": task_type, "url": "https://example.com/v", "params": params}


def ffmpeg_input(opts: dict) -> list[str]:
    return opts["external_downloader_args"]["ffmpeg_i"]


def test_worker_options_confine_every_path_to_the_job_folder():
    plan = build_plan(task("get_video"), SCRATCH)
    opts = plan.ydl_opts
    assert opts["paths"] == {"home": str(SCRATCH)}
    assert opts["outtmpl"] == {"default": "video.%(ext)s"}  # no title, id or other site-given text in the path
    assert opts["cachedir"] is False and opts["overwrites"] is True


def test_worker_options_are_quiet_colourless_and_bounded():
    opts = build_plan(task("get_video"), SCRATCH, socket_timeout=7.5).ydl_opts
    assert opts["quiet"] is True and opts["noprogress"] is True and opts["color"] == "never"
    assert opts["socket_timeout"] == 7.5
    assert opts["noplaylist"] is True and opts["playlist_items"] == "1"
    assert opts["retries"] == opts["fragment_retries"] == 3


def test_worker_options_prefer_native_downloaders_and_restrict_ffmpeg_protocols():
    opts = build_plan(task("get_video"), SCRATCH).ydl_opts
    assert opts["external_downloader"] == {"default": "native"} and opts["hls_prefer_native"] is True
    assert ffmpeg_input(opts) == ["-protocol_whitelist", FFMPEG_PROTOCOLS, "-rw_timeout", "20000000"]
    assert FFMPEG_PROTOCOLS.split(",") == ["http", "tcp", "crypto"]  # no https/tls/httpproxy/file/data


def test_worker_options_fetch_fragments_concurrently_as_configured():
    assert build_plan(task("get_video"), SCRATCH).ydl_opts["concurrent_fragment_downloads"] == 1
    assert build_plan(task("get_video"), SCRATCH, fragment_concurrency=4).ydl_opts["concurrent_fragment_downloads"] == 4
    assert build_plan(task("get_live_video", duration=5), SCRATCH, fragment_concurrency=6).ydl_opts["concurrent_fragment_downloads"] == 6


def test_worker_settings_default_to_four_fragments_and_jobs_below_the_worker(monkeypatch):
    from functions.worker.settings import WorkerSettings

    monkeypatch.delenv("FRAGMENT_CONCURRENCY", raising=False)
    monkeypatch.delenv("JOB_NICE", raising=False)
    settings = WorkerSettings()
    assert settings.fragment_concurrency == 4 and settings.job_nice == 10
    monkeypatch.setenv("FRAGMENT_CONCURRENCY", "0")
    with pytest.raises(ValueError):
        WorkerSettings()


def test_worker_options_send_every_request_through_the_egress_proxy_when_given():
    opts = build_plan(task("get_video"), SCRATCH, proxy="socks5h://127.0.0.1:4321", ffmpeg_location="/job/.bin").ydl_opts
    assert opts["proxy"] == "socks5h://127.0.0.1:4321" and opts["ffmpeg_location"] == "/job/.bin"


def test_worker_options_video_defaults_to_best_video_and_audio_merged_into_mp4():
    plan = build_plan(task("get_video"), SCRATCH)
    opts = plan.ydl_opts
    assert plan.stem == "video" and plan.gif is None and plan.live is None and not plan.info_only
    assert opts["format"] == "bestvideo+bestaudio/best"
    assert opts["merge_output_format"] == "mp4/mkv"
    assert plan.container == "mp4" and "postprocessors" not in opts
    assert "download_ranges" not in opts


def test_worker_options_video_uses_the_requested_formats():
    opts = build_plan(task("get_video", video_format="bestvideo[height<=240]", audio_format="140"), SCRATCH).ydl_opts
    assert opts["format"] == "bestvideo[height<=240]+140/best"


@pytest.mark.parametrize(
    ("output", "merge", "container"),
    [("mp4", "mp4/mkv", "mp4"), ("MKV", "mkv", "mkv"), ("mov", "mkv", "mov"), ("webm", "webm/mkv", "webm")],
)
def test_worker_options_video_containers(output, merge, container):
    plan = build_plan(task("get_video", output_format=output), SCRATCH)
    # yt-dlp only merges; the runner's container step copies or re-encodes into the target.
    assert plan.ydl_opts["merge_output_format"] == merge
    assert plan.container == container and "postprocessors" not in plan.ydl_opts


def test_worker_options_gif_downloads_the_picture_only_and_plans_a_bounded_gif():
    plan = build_plan(task("get_video", output_format="gif", video_format="bestvideo[height<=720]"), SCRATCH)
    assert plan.ydl_opts["format"] == "bestvideo[height<=720]/best"
    assert "postprocessors" not in plan.ydl_opts
    assert plan.gif == GifSpec()
    assert 10 <= plan.gif.fps <= 15 and plan.gif.max_width <= 480


@pytest.mark.parametrize("output", ["avi", "mp3", "exe", "../x"])
def test_worker_options_refuse_unknown_video_outputs(output):
    with pytest.raises(OptionsError, match="Unsupported video output format"):
        build_plan(task("get_video", output_format=output), SCRATCH)


def test_worker_options_clip_uses_download_ranges_and_keyframes_flag():
    opts = build_plan(task("get_video", start_time=2.5, end_time=10, force_keyframes=True), SCRATCH).ydl_opts
    assert opts["download_ranges"] == download_range_func(None, [(2.5, 10)])
    assert opts["force_keyframes_at_cuts"] is True


def test_worker_options_clip_without_keyframes_and_open_ends():
    opts = build_plan(task("get_audio", start_time=30), SCRATCH).ydl_opts
    assert opts["download_ranges"] == download_range_func(None, [(30, math.inf)])
    assert opts["force_keyframes_at_cuts"] is False
    opts = build_plan(task("get_video", end_time=5, force_keyframes=False), SCRATCH).ydl_opts
    assert opts["download_ranges"] == download_range_func(None, [(0, 5)])


def test_worker_options_clip_must_end_after_it_starts():
    with pytest.raises(OptionsError, match="end_time must be after start_time"):
        build_plan(task("get_video", start_time=10, end_time=10), SCRATCH)
    with pytest.raises(OptionsError):
        build_plan(task("get_video", start_time=-1), SCRATCH)


def test_worker_options_audio_keeps_the_source_codec_by_default():
    plan = build_plan(task("get_audio"), SCRATCH)
    assert plan.stem == "audio"
    assert plan.ydl_opts["format"] == "bestaudio/best"
    assert plan.ydl_opts["outtmpl"] == {"default": "audio.%(ext)s"}
    assert plan.ydl_opts["postprocessors"] == [{"key": "FFmpegExtractAudio", "preferredcodec": "best", "nopostoverwrites": False}]


@pytest.mark.parametrize(
    ("output", "container"),
    [("mp3", "mp3"), ("m4a", "m4a"), ("aac", "aac"), ("opus", "opus"), ("vorbis", "vorbis"), ("ogg", "ogg"), ("flac", "flac"), ("WAV", "wav"), ("alac", "alac")],
)
def test_worker_options_audio_outputs(output, container):
    plan = build_plan(task("get_audio", audio_format="bestaudio[ext=m4a]", output_format=output), SCRATCH)
    assert plan.ydl_opts["format"] == "bestaudio[ext=m4a]/best"
    assert plan.container == container and "postprocessors" not in plan.ydl_opts


def test_worker_options_refuse_unknown_audio_outputs():
    with pytest.raises(OptionsError, match="Unsupported audio output format"):
        build_plan(task("get_audio", output_format="mp4"), SCRATCH)


def test_worker_options_live_video_records_duration_seconds_with_ffmpeg():
    plan = build_plan(task("get_live_video", start=30, duration=120), SCRATCH, live_start_index=-7)
    opts = plan.ydl_opts
    assert plan.live is not None and plan.live.start == 30 and plan.live.duration == 120
    assert opts["download_ranges"] == download_range_func(None, [(0, 120)])
    assert opts["force_keyframes_at_cuts"] is False  # a re-encode would not keep up with the stream
    assert opts["format"] == "bestvideo+bestaudio/best" and opts["merge_output_format"] == "mp4/mkv"
    args = ffmpeg_input(opts)
    assert args[args.index("-live_start_index") + 1] == "-7"
    assert "live_from_start" not in opts


def test_worker_options_live_audio():
    plan = build_plan(task("get_live_audio", duration=10, output_format="mp3"), SCRATCH)
    assert plan.stem == "audio" and plan.live is not None and plan.live.start == 0
    assert plan.container == "mp3"
    assert "-live_start_index" not in ffmpeg_input(plan.ydl_opts)


@pytest.mark.parametrize("duration", [None, 0, -5, "x", True])
def test_worker_options_live_needs_a_positive_duration(duration):
    with pytest.raises(OptionsError):
        build_plan(task("get_live_video", duration=duration), SCRATCH)


def test_worker_options_info_skips_the_download():
    plan = build_plan(task("get_info"), SCRATCH)
    assert plan.info_only and plan.stem == "info"
    assert plan.ydl_opts["skip_download"] is True
    assert plan.ydl_opts["extract_flat"] == "in_playlist"
    assert "format" not in plan.ydl_opts and "postprocessors" not in plan.ydl_opts


def test_worker_options_refuse_unknown_task_types():
    with pytest.raises(OptionsError, match="Unknown task type"):
        build_plan(task("get_everything"), SCRATCH)


def test_worker_options_are_pure():
    t = task("get_video", output_format="webm", start_time=1, end_time=2)
    assert build_plan(t, SCRATCH) == build_plan(t, SCRATCH)
    assert t["params"] == {"output_format": "webm", "start_time": 1, "end_time": 2}


def test_worker_live_start_index_goes_back_far_enough_within_the_window():
    segments = [2.0] * 10
    assert live_start_index(segments, 0) == -1
    assert live_start_index(segments, 1) == -1
    assert live_start_index(segments, 2) == -1
    assert live_start_index(segments, 5) == -3
    assert live_start_index(segments, 100) == -10  # the window holds 20 s: start at its oldest segment
    assert live_start_index([], 30) == -1


def test_worker_media_playlist_durations():
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:40\n#EXTINF:2.000000,\nseg40.ts\n#EXTINF:1.5,\nseg41.ts\n#EXTINF:bad,\nx.ts\n"
    assert media_playlist_durations(playlist) == [2.0, 1.5]
    assert media_playlist_durations("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n") == []
