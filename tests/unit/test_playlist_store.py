"""The playlist's conditional writes (moto): each entry's end counts once, the last one settles the playlist once."""

from __future__ import annotations

from typing import Any

from shared.stores.playlists import ZIP_NAME, entry_task_id, on_entry_ended
from shared.stores.tasks import TaskStore, public_view


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, task_id: str, job_id: str | None = None, delay: int = 0) -> None:
        self.sent.append(task_id)


def expanded(aws: Any, count: int = 2, params: dict[str, Any] | None = None) -> tuple[TaskStore, dict[str, Any], list[dict[str, Any]]]:
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create("PlAyLiSt00000001", "owner", "get_playlist", "http://feed", params or {})
    claimed = tasks.start("PlAyLiSt00000001", "w/1", 60)
    entries = [{"index": i, "title": f"E{i}", "stem": f"0{i}-E{i}", "status": "waiting"} for i in range(1, count + 1)]
    assert tasks.playlists.set_entries("PlAyLiSt00000001", "w/1", entries, truncated=False, playlist_count=count)
    assert tasks.playlists.detach("PlAyLiSt00000001", "w/1")
    items = []
    for e in entries:
        public = {k: e[k] for k in ("index", "title", "stem")}
        assert tasks.playlists.create_entry(claimed, public, "get_video", "http://e", {}, 3600)
        items.append(tasks.get(entry_task_id("PlAyLiSt00000001", e["index"])))
    return tasks, claimed, items


def test_playlist_store_last_entry_completes_the_playlist_once(aws):
    # GIVEN an expanded playlist of two entries
    tasks, playlist, items = expanded(aws)
    queue = FakeQueue()
    # WHEN the first ends twice (a redelivery) and the second fails
    assert on_entry_ended(tasks.playlists, queue, items[0], True, 60, file_name="01-E1.mp4", files=["01-E1.mp4"]) is None
    assert on_entry_ended(tasks.playlists, queue, items[0], True, 60, file_name="01-E1.mp4", files=["01-E1.mp4"]) is None
    assert on_entry_ended(tasks.playlists, queue, items[1], False, 60, error="HTTP Error 404") == "completed"
    # THEN the playlist is completed, counted once per entry, with each entry's state
    view = public_view(tasks.get(playlist["task_id"]))
    assert view["status"] == "completed"
    assert view["progress"] == {"total": 2, "completed": 1, "failed": 1}
    assert view["entries"][1] == {"index": 2, "title": "E2", "status": "error", "file": None, "error": "HTTP Error 404"}
    assert view["files"] == ["01-E1.mp4"]


def test_playlist_store_all_entries_failing_is_an_error(aws):
    tasks, playlist, items = expanded(aws)
    for item in items:
        on_entry_ended(tasks.playlists, FakeQueue(), item, False, 60, error="boom")
    task = tasks.get(playlist["task_id"])
    assert task["status"] == "error" and "every entry" in task["error"]


def test_playlist_store_zip_queues_the_playlist_job_again(aws):
    # GIVEN a playlist that asked for a zip
    tasks, playlist, items = expanded(aws, params={"zip": True})
    queue = FakeQueue()
    # WHEN its entries end, THEN it stays processing, in the zip phase, and its own job is queued
    on_entry_ended(tasks.playlists, queue, items[0], True, 60, file_name="01-E1.mp4", files=["01-E1.mp4"])
    assert on_entry_ended(tasks.playlists, queue, items[1], True, 60, file_name="02-E2.mp4", files=["02-E2.mp4"]) == "zip"
    task = tasks.get(playlist["task_id"])
    assert task["status"] == "processing" and task["phase"] == "zip" and queue.sent == [playlist["task_id"]]
    # AND once the zip job completes it, the archive is its file and listed first in files
    assert tasks.complete(playlist["task_id"], ZIP_NAME, 60)
    view = public_view(tasks.get(playlist["task_id"]))
    assert view["file"].endswith("/playlist.zip") and view["files"] == [ZIP_NAME, "01-E1.mp4", "02-E2.mp4"]
