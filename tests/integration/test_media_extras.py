"""Subtitles, thumbnails and metadata on get_video/get_audio, through a real worker process: the first <video> of an
HTML page (with a <track kind="subtitles" srclang="en"> and a poster) gives its subtitle file, embedded subtitle
stream, JPEG thumbnail, cover art and title tag, checked with ffprobe and by content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.models import media_key
from tests.support.media import probe
from tests.support.playlists import CUE_TEXT, Playlist, make_page
from tests.support.stack import DeployedStack
from tests.support.worker import Queues, WorkerProcess, emulator, make_queues, submit, wait_for_task  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def queues(emulator: DeployedStack) -> Queues:  # noqa: F811
    return make_queues(emulator, visibility=10)


@pytest.fixture(scope="module")
def worker(emulator: DeployedStack, queues: Queues, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:  # noqa: F811
    root = tmp_path_factory.mktemp("extras")
    process = WorkerProcess(emulator, queues.url, root / "worker.log", {"SCRATCH_DIR": str(root / "scratch"), "MAX_WORKERS": "3"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def page(media_server: Any) -> Playlist:
    return make_page(media_server, [3, 2])


def run(stack: DeployedStack, queues: Queues, worker: WorkerProcess, task_type: str, url: str, params: dict[str, Any]) -> dict[str, Any]:
    task = wait_for_task(stack, submit(stack, queues, task_type, url, params), timeout=90, worker=worker)
    assert task["status"] == "completed", (task, worker.logs())
    return task


def stored(stack: DeployedStack, task: dict[str, Any], name: str, dest: Path) -> Path:
    body = stack.clients.s3.get_object(Bucket=stack.settings.media_bucket, Key=media_key(task["task_id"], name))["Body"].read()
    (dest / name).write_bytes(body)
    return dest / name


def streams(info: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s.get("codec_type") == kind]


def test_extras_subtitle_file_has_the_cue_text(emulator, queues, worker, page, tmp_path):  # noqa: F811
    # WHEN the page's first video is asked for with English subtitles
    task = run(emulator, queues, worker, "get_video", page.url, {"subtitles": ["en"]})
    # THEN subtitles.en.vtt is listed next to the video and holds the track's cue
    assert task["files"] == ["video.mp4", "subtitles.en.vtt"]
    text = stored(emulator, task, "subtitles.en.vtt", tmp_path).read_text()
    assert text.startswith("WEBVTT") and CUE_TEXT in text
    assert abs(probe(stored(emulator, task, "video.mp4", tmp_path))["duration"] - 3) < 0.5  # the first entry


def test_extras_srt_format_converts_the_file(emulator, queues, worker, page, tmp_path):  # noqa: F811
    task = run(emulator, queues, worker, "get_video", page.url, {"subtitles": ["en"], "subtitle_format": "srt"})
    assert "subtitles.en.srt" in task["files"]
    text = stored(emulator, task, "subtitles.en.srt", tmp_path).read_text()
    assert "00:00:00,000 --> 00:00:01,500" in text and CUE_TEXT in text


@pytest.mark.parametrize("output", ["mp4", "mkv"])
def test_extras_embedded_subtitles_thumbnail_and_title_survive_the_container(emulator, queues, worker, page, tmp_path, output):  # noqa: F811
    # WHEN subtitles, cover art and tags are embedded (mkv: the mp4 download is converted afterwards)
    params = {"output_format": output, "subtitles": ["en"], "embed_subtitles": True, "embed_thumbnail": True, "embed_metadata": True, "thumbnail": True}
    task = run(emulator, queues, worker, "get_video", page.url, params)
    info = probe(stored(emulator, task, f"video.{output}", tmp_path))
    # THEN the file has a subtitle stream, an attached picture and the title tag
    assert streams(info, "subtitle"), info["streams"]
    # (mp4: a video stream marked attached_pic; Matroska keeps cover art as an image attachment)
    pics = [s for s in streams(info, "video") if (s.get("disposition") or {}).get("attached_pic")]
    pics += [s for s in streams(info, "attachment") if str((s.get("tags") or {}).get("mimetype", "")).startswith("image/")]
    assert pics and pics[0]["codec_name"] in ("mjpeg", "png"), info["streams"]
    tags = {k.lower(): v for k, v in (json.loads(_format_tags(tmp_path / f"video.{output}")) or {}).items()}
    assert tags.get("title") == "Test page (1)", tags
    # AND thumbnail.jpg is a JPEG
    jpeg = stored(emulator, task, "thumbnail.jpg", tmp_path)
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff" and probe(jpeg)["video"]["codec_name"] == "mjpeg"


def test_extras_audio_cover_art_in_mp3(emulator, queues, worker, page, tmp_path):  # noqa: F811
    task = run(emulator, queues, worker, "get_audio", page.url, {"output_format": "mp3", "embed_thumbnail": True, "embed_metadata": True})
    info = probe(stored(emulator, task, "audio.mp3", tmp_path))
    assert info["audio"]["codec_name"] == "mp3"
    assert any((s.get("disposition") or {}).get("attached_pic") for s in streams(info, "video")), info["streams"]


def test_extras_get_info_on_a_playlist_keeps_its_flat_listing(emulator, queues, worker, page, tmp_path):  # noqa: F811
    task = run(emulator, queues, worker, "get_info", page.url, {})
    info = json.loads(stored(emulator, task, "info.json", tmp_path).read_text())
    assert info["_type"] == "playlist" and len(info["entries"]) == 2


def _format_tags(path: Path) -> str:
    import subprocess

    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", str(path)], capture_output=True, check=True).stdout
    return json.dumps(json.loads(out)["format"].get("tags") or {})
