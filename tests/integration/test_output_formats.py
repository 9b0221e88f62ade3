"""Every output format from every YouTube-like source, checked with ffprobe (container, codecs, height, length).

The worker's own download step (`runner.fetch`) runs once per cell, two at a time, in a module fixture; each
test then only probes its cell's file. Sources: the DASH manifest with yt-dlp's default choice (AV1 or VP9 +
Opus), its VP9+Opus pair, its H.264+AAC pair, a progressive VP9/Opus webm, and a 2-6 s clip of the VP9+Opus
pair.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from functions.worker.download.progress import ProgressReporter
from functions.worker.download.runner import YtdlpLogger, fetch
from functions.worker.settings import WorkerSettings
from shared.formats import AUDIO_OUTPUTS, VIDEO_OUTPUTS
from tests.support.media import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VP9_OPUS = {"video_format": "bestvideo[vcodec^=vp09][height=240]", "audio_format": "bestaudio[acodec=opus]"}
H264_AAC = {"video_format": "bestvideo[vcodec^=avc1]", "audio_format": "bestaudio[acodec^=mp4a]"}
# name -> (url key, params, expected seconds)
SOURCES: dict[str, tuple[str, dict[str, Any], float]] = {
    "dash-default": ("dash", {}, 8.0),
    "dash-vp9-opus": ("dash", VP9_OPUS, 8.0),
    "dash-h264-aac": ("dash", H264_AAC, 8.0),
    "webm-vp9-opus": ("webm", {}, 4.0),
    "dash-vp9-opus-clip-2-6": ("dash", {**VP9_OPUS, "start_time": 2, "end_time": 6}, 4.0),
}
# "vorbis" is another name for "ogg" (same target, see the unit tests): not run twice.
FORMATS = [*VIDEO_OUTPUTS, *(fmt for fmt in AUDIO_OUTPUTS if fmt != "vorbis")]

# What a user gets for each output: extension, ffprobe format name(s), allowed video and audio codecs.
VIDEO_CONTAINERS: dict[str, tuple[str, set[str], set[str], set[str]]] = {
    "mp4": ("mp4", {"mov,mp4,m4a,3gp,3g2,mj2"}, {"h264", "hevc", "vp9", "av1"}, {"aac", "mp3", "opus", "alac", "flac"}),
    "mov": ("mov", {"mov,mp4,m4a,3gp,3g2,mj2"}, {"h264", "hevc"}, {"aac", "alac", "mp3"}),
    "mkv": ("mkv", {"matroska,webm"}, {"h264", "hevc", "vp9", "av1"}, {"aac", "opus", "vorbis", "mp3", "flac"}),
    "webm": ("webm", {"matroska,webm"}, {"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}
AUDIO_FILES: dict[str, tuple[str, str, str]] = {
    "mp3": ("mp3", "mp3", "mp3"),
    "m4a": ("m4a", "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    "aac": ("aac", "aac", "aac"),
    "opus": ("opus", "ogg", "opus"),
    "flac": ("flac", "flac", "flac"),
    "wav": ("wav", "wav", "pcm_s16le"),
    "ogg": ("ogg", "ogg", "vorbis"),
    "alac": ("m4a", "mov,mp4,m4a,3gp,3g2,mj2", "alac"),
}
LENGTH_TOLERANCE = 0.35  # seconds: one GIF frame, AAC/Opus priming and packet rounding


def _run_cell(url: str, params: dict[str, Any], output: str, job_dir: Path) -> Path | BaseException:
    task_type = "get_video" if output in VIDEO_OUTPUTS else "get_audio"
    task = {"task_id": job_dir.name, "task_type": task_type, "url": url, "params": {**params, "output_format": output}}
    if task_type == "get_audio":
        task["params"].pop("video_format", None)
    reporter = ProgressReporter(lambda _p: None, 60)
    try:
        return fetch(task, job_dir, WorkerSettings(socket_timeout=10), reporter, YtdlpLogger(), None)
    except BaseException as err:  # noqa: BLE001 - a cell's failure is its test's result
        return err
    finally:
        reporter.close()


@pytest.fixture(scope="module")
def outputs(youtube_like_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path | BaseException]:
    """Every (source, format) cell's file or error, four jobs at a time: a cell mostly waits on loopback HTTP
    and ffmpeg start-up (about 0.6 s of CPU each), so four keep two cores busy."""
    root = tmp_path_factory.mktemp("formats")
    cells = [(source, fmt) for source in SOURCES for fmt in FORMATS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            cell: pool.submit(_run_cell, youtube_like_urls[SOURCES[cell[0]][0]], SOURCES[cell[0]][1], cell[1], root / f"{cell[0]}-{cell[1]}")
            for cell in cells
        }
        return {cell: future.result() for cell, future in futures.items()}


@pytest.mark.parametrize("output", FORMATS)
@pytest.mark.parametrize("source", list(SOURCES))
def test_output_format_from_youtube_like_source(outputs: dict[tuple[str, str], Any], source: str, output: str) -> None:
    # GIVEN a YouTube-like source, WHEN the worker produces `output` from it
    result = outputs[(source, output)]
    if isinstance(result, BaseException):
        pytest.fail(f"{source} -> {output} failed: {type(result).__name__}: {result}")
    info = probe(result)
    expected_seconds = SOURCES[source][2]
    # THEN the file has the container, codecs, picture height and length the user asked for
    assert abs(info["duration"] - expected_seconds) <= LENGTH_TOLERANCE, info["duration"]
    if output == "gif":
        assert (result.suffix, info["format_name"], info["video"]["codec_name"], info["audio"]) == (".gif", "gif", "gif", None)
        assert info["video"]["height"] == 240
    elif output in VIDEO_CONTAINERS:
        ext, names, video_codecs, audio_codecs = VIDEO_CONTAINERS[output]
        assert result.suffix == f".{ext}"
        assert info["format_name"] in names
        assert info["video"]["codec_name"] in video_codecs
        assert info["audio"]["codec_name"] in audio_codecs
        assert info["video"]["height"] == 240
    else:
        ext, name, codec = AUDIO_FILES[output]
        assert (result.suffix, info["format_name"], info["audio"]["codec_name"], info["video"]) == (f".{ext}", name, codec, None)


def test_default_dash_choice_is_not_h264(outputs: dict[tuple[str, str], Any]) -> None:
    # GIVEN the DASH manifest, WHEN nothing is asked for, THEN mkv keeps the best (AV1 or VP9) picture as it is
    result = outputs[("dash-default", "mkv")]
    assert not isinstance(result, BaseException), result
    assert probe(result)["video"]["codec_name"] in {"av1", "vp9"}
