"""get_playlist end to end through real worker processes against the emulator: a podcast-style RSS feed and an
HTML page with several <video> elements, expanded by yt-dlp's generic extractor, fanned out entry by entry;
outputs checked with ffprobe."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from shared.models import media_key
from shared.stores.playlists import entry_task_id
from shared.stores.tasks import TaskStore, public_view
from tests.support.media import probe
from tests.support.playlists import make_feed, make_page
from tests.support.stack import DeployedStack
from tests.support.worker import (
    Queues,
    emulator,  # noqa: F401  (fixture)
    make_queues,
    start_worker,  # noqa: F401  (fixture)
    submit,
    task_objects,
    wait_for_task,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VIDEO_PARAMS = {"kind": "video", "video_format": "bestvideo", "audio_format": "bestaudio", "output_format": "mp4"}


@pytest.fixture
def queues(emulator: DeployedStack) -> Queues:  # noqa: F811
    return make_queues(emulator, visibility=10)


def stored(stack: DeployedStack, task_id: str, name: str, dest: Path) -> Path:
    body = stack.clients.s3.get_object(Bucket=stack.settings.media_bucket, Key=media_key(task_id, name))["Body"].read()
    path = dest / name
    path.write_bytes(body)
    return path


def run_playlist(stack: DeployedStack, queues: Queues, worker: Any, url: str, params: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    task_id = submit(stack, queues, "get_playlist", url, {**VIDEO_PARAMS, **params})
    task = wait_for_task(stack, task_id, timeout=timeout, worker=worker)
    return public_view(task) | {"task_id": task_id, "raw": task}


def test_playlist_feed_gives_every_entry_as_a_playable_file(emulator, queues, start_worker, media_server, tmp_path):  # noqa: F811
    # GIVEN a podcast feed of 3 mp4s (2, 3 and 4 s) and two worker processes
    feed = make_feed(media_server, [2, 3, 4])
    first = start_worker(queues, MAX_WORKERS=1)
    second = start_worker(queues, MAX_WORKERS=1)
    # WHEN the feed is asked for as a playlist
    view = run_playlist(emulator, queues, first, feed.url, {})
    # THEN it is completed with 3 entries, each a file of the entry's length under the playlist's own prefix
    assert view["status"] == "completed", view
    assert view["progress"] == {"total": 3, "completed": 3, "failed": 0}
    assert [e["index"] for e in view["entries"]] == [1, 2, 3]
    assert [e["title"] for e in view["entries"]] == feed.titles
    for entry, seconds in zip(view["entries"], feed.durations):
        assert entry["status"] == "completed" and entry["file"].startswith(f"{entry['index']:02d}-Episode"), entry
        info = probe(stored(emulator, view["task_id"], entry["file"], tmp_path))
        assert info["video"]["codec_name"] == "h264" and info["audio"] is not None
        assert abs(info["duration"] - seconds) < 0.5
    assert sorted(view["files"]) == sorted(e["file"] for e in view["entries"])
    # AND both workers took entries (each logs the jobs it ran)
    ran = [sum(1 for r in w.log_records() if r.get("message") == "job completed" and "-" in str(r.get("task_id"))) for w in (first, second)]
    assert all(n >= 1 for n in ran), (ran, first.logs(), second.logs())


def test_playlist_items_and_the_limit_choose_and_cut_entries(emulator, queues, start_worker, media_server):  # noqa: F811
    # GIVEN a feed of 3 entries and a worker whose PLAYLIST_MAX_ITEMS is 2
    feed = make_feed(media_server, [2, 2, 2])
    worker = start_worker(queues, PLAYLIST_MAX_ITEMS=2)
    # WHEN items "2-3" is asked for, THEN exactly entries 2 and 3 are downloaded
    chosen = run_playlist(emulator, queues, worker, feed.url, {"items": "2-3"})
    assert chosen["status"] == "completed", chosen
    assert [e["index"] for e in chosen["entries"]] == [2, 3]
    assert "truncated" not in chosen
    # WHEN the whole feed is asked for, THEN it is cut at 2 and the status says so
    cut = run_playlist(emulator, queues, worker, feed.url, {})
    assert [e["index"] for e in cut["entries"]] == [1, 2]
    assert cut["truncated"] is True and cut["progress"]["total"] == 2


def test_playlist_failing_entry_leaves_the_others_and_shows_its_error(emulator, queues, start_worker, media_server):  # noqa: F811
    # GIVEN a feed whose second enclosure answers 404
    feed = make_feed(media_server, [2, 2, 2], missing=(2,))
    worker = start_worker(queues, MAX_ATTEMPTS=1)
    # WHEN it is downloaded
    view = run_playlist(emulator, queues, worker, feed.url, {})
    # THEN the task is completed, two entries are files, and the second shows why it failed
    assert view["status"] == "completed", view
    assert view["progress"] == {"total": 3, "completed": 2, "failed": 1}
    bad = view["entries"][1]
    assert bad["status"] == "error" and "404" in bad["error"], bad
    assert [e["status"] for e in view["entries"]] == ["completed", "error", "completed"]


def test_playlist_every_entry_failing_is_an_error(emulator, queues, start_worker, media_server):  # noqa: F811
    # GIVEN a feed whose enclosures all answer 404
    feed = make_feed(media_server, [2, 2], missing=(1, 2))
    worker = start_worker(queues, MAX_ATTEMPTS=1)
    # WHEN it is downloaded, THEN the task is an error and every entry says why
    view = run_playlist(emulator, queues, worker, feed.url, {})
    assert view["status"] == "error" and view["progress"]["failed"] == 2, view


def test_playlist_zip_holds_every_entry(emulator, queues, start_worker, media_server, tmp_path):  # noqa: F811
    # GIVEN a feed of 3 entries
    feed = make_feed(media_server, [2, 3, 4])
    worker = start_worker(queues)
    # WHEN it is downloaded with zip
    view = run_playlist(emulator, queues, worker, feed.url, {"zip": True})
    # THEN playlist.zip is the task's file, listed in files, and its members ffprobe as the entries
    assert view["status"] == "completed", view
    assert view["file"].endswith("/playlist.zip") and "playlist.zip" in view["files"]
    archive = zipfile.ZipFile(io.BytesIO(stored(emulator, view["task_id"], "playlist.zip", tmp_path).read_bytes()))
    assert archive.testzip() is None
    assert archive.namelist() == [e["file"] for e in view["entries"]]
    for name, seconds in zip(archive.namelist(), feed.durations):
        (tmp_path / "unzipped").mkdir(exist_ok=True)
        path = Path(archive.extract(name, tmp_path / "unzipped"))
        info = probe(path)
        assert info["video"]["codec_name"] == "h264" and abs(info["duration"] - seconds) < 0.5


def test_playlist_html_page_entries_keep_their_subtitles(emulator, queues, start_worker, media_server, tmp_path):  # noqa: F811
    # GIVEN an HTML page with 3 <video> elements, the first with an English subtitle track and a poster
    page = make_page(media_server, [2, 2, 3])
    worker = start_worker(queues)
    # WHEN it is downloaded as a playlist with English subtitles
    view = run_playlist(emulator, queues, worker, page.url, {"subtitles": ["en"]})
    # THEN every entry is a file and the first one's subtitle file sits next to it, with the cue text
    assert view["status"] == "completed" and view["progress"]["completed"] == 3, view
    first = view["entries"][0]["file"]
    subtitle = first.rsplit(".", 1)[0] + ".subtitles.en.vtt"
    assert subtitle in view["files"]
    assert "Hello from the first cue" in stored(emulator, view["task_id"], subtitle, tmp_path).read_text()


def test_playlist_cleanup_removes_the_playlist_its_entries_and_files(emulator, queues, start_worker, media_server):  # noqa: F811
    # GIVEN a completed playlist
    from functions.cleanup.service import CleanupService
    from shared.stores.media import MediaStore

    feed = make_feed(media_server, [2, 2])
    worker = start_worker(queues)
    view = run_playlist(emulator, queues, worker, feed.url, {})
    assert view["status"] == "completed" and task_objects(emulator, view["task_id"])
    tasks = TaskStore(emulator.clients.dynamodb, emulator.settings.tasks_table)
    # WHEN the cleanup runs after it expired
    service = CleanupService(tasks, MediaStore(emulator.clients.s3, emulator.settings.media_bucket), None, 60, 3)
    service.run(now=view["raw"]["expires_at"] + 1)
    # THEN the playlist, every entry's task and every file are gone
    assert tasks.get(view["task_id"]) is None
    for index in (1, 2):
        assert emulator.clients.dynamodb.get_item(TableName=emulator.settings.tasks_table, Key={"task_id": {"S": entry_task_id(view["task_id"], index)}}).get("Item") is None
    assert task_objects(emulator, view["task_id"]) == []
