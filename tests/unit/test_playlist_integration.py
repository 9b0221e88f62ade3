"""Where playlists meet webhooks, usage and shared results: one webhook when the playlist settles (never one per
entry), usage counted once per entry and not again for the playlist, and a playlist never served from a cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.worker.jobs.scratch import Scratch
from functions.worker.service import JobService, Outcome
from shared.stores.playlists import entry_task_id
from shared.stores.tasks import TaskStore
from shared.stores.usage import UsageStore
from tests.unit.test_worker_service import FakeLauncher, FakeQueue, job, settings
from tests.unit.test_worker_webhooks import FakeNotify

PLAYLIST = "PlAyLiSt00000001"
FEED = "https://media.example.com/feed.xml"


class Queue(FakeQueue):
    def send(self, task_id: str, job_id: str | None = None, delay: int = 0) -> None:
        self.calls.append(("send", task_id))


def expanded(aws: Any, params: dict[str, Any]) -> TaskStore:
    """A playlist of key digest "kp" with a webhook, expanded into two waiting entries."""
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create(PLAYLIST, "kp", "get_playlist", FEED, params, webhook_url="https://hooks.example.com/in")
    claimed = tasks.start(PLAYLIST, "w/1", 60)
    entries = [{"index": i, "title": f"E{i}", "stem": f"0{i}-E{i}", "status": "waiting"} for i in (1, 2)]
    assert tasks.playlists.set_entries(PLAYLIST, "w/1", entries, truncated=False, playlist_count=2)
    assert tasks.playlists.detach(PLAYLIST, "w/1")
    for e in entries:
        assert tasks.playlists.create_entry(claimed, {k: e[k] for k in ("index", "title", "stem")}, "get_video", "http://e", {}, 3600)
    return tasks


def run(aws: Any, tmp_path: Path, tasks: TaskStore, notify: FakeNotify, task_id: str, result: dict[str, Any]) -> Outcome:
    usage = UsageStore(aws.clients.dynamodb, aws.settings.usage_table)
    scratch = Scratch.open(tmp_path / task_id, "w")
    service = JobService(settings(), tasks, Queue(), FakeLauncher(result), scratch, "worker-a", sleep=lambda s: None, notify=notify, usage=usage)  # type: ignore[arg-type]
    return service.process(job(task_id, message_id=task_id))


def test_playlist_settled_by_its_last_entry_sends_one_webhook_and_counts_each_entry(aws, tmp_path):
    # GIVEN an expanded playlist with a webhook_url
    tasks, notify = expanded(aws, {}), FakeNotify()
    # WHEN both entries complete (1000 and 2000 bytes)
    for index, size in ((1, 1000), (2, 2000)):
        result = {"status": "completed", "file_name": f"0{index}-E{index}.mp4", "files": [f"0{index}-E{index}.mp4"], "bytes": size}
        assert run(aws, tmp_path, tasks, notify, entry_task_id(PLAYLIST, index), result) is Outcome.COMPLETED
    # THEN the playlist is completed and exactly one task.completed event was queued, for the playlist
    assert tasks.get(PLAYLIST)["status"] == "completed"
    assert notify.announced == [(PLAYLIST, "task.completed")]
    # AND the usage totals count each entry once with its bytes
    totals = UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals("kp")
    assert (totals["completed"], totals["failed"], totals["bytes"]) == (2, 0, 3000)


def test_playlist_archive_sends_the_webhook_and_adds_no_usage(aws, tmp_path):
    # GIVEN a zip playlist whose entries have completed (it is in its zip phase, no webhook yet)
    tasks, notify = expanded(aws, {"zip": True}), FakeNotify()
    for index in (1, 2):
        result = {"status": "completed", "file_name": f"0{index}-E{index}.mp4", "files": [f"0{index}-E{index}.mp4"], "bytes": 100}
        run(aws, tmp_path, tasks, notify, entry_task_id(PLAYLIST, index), result)
    assert tasks.get(PLAYLIST)["phase"] == "zip" and notify.announced == []
    # WHEN the playlist's own job builds the archive
    assert run(aws, tmp_path, tasks, notify, PLAYLIST, {"status": "completed", "file_name": "playlist.zip"}) is Outcome.COMPLETED
    # THEN one webhook for the playlist, and the totals are still the entries' (the archive is not counted again)
    assert notify.announced == [(PLAYLIST, "task.completed")]
    totals = UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals("kp")
    assert (totals["completed"], totals["bytes"]) == (2, 200)


def test_unreadable_playlist_fails_once_with_its_webhook_and_one_failed_task(aws, tmp_path):
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    tasks.create(PLAYLIST, "kf", "get_playlist", FEED, {}, webhook_url="https://hooks.example.com/in")
    notify = FakeNotify()
    result = {"status": "failed", "permanent": True, "error": "Unsupported URL"}
    assert run(aws, tmp_path, tasks, notify, PLAYLIST, result) is Outcome.FAILED
    assert notify.announced == [(PLAYLIST, "task.failed")]
    assert UsageStore(aws.clients.dynamodb, aws.settings.usage_table).totals("kf")["failed"] == 1


def test_get_playlist_is_rate_limited_counted_and_never_cached(api, aws):
    # GIVEN a key that submits the same playlist twice, with a webhook_url
    key = api.make_key("p", ["get_playlist"])
    body = {"url": FEED, "webhook_url": "https://hooks.example.com/in", "cache": True}
    answers = [api.client.post("/get_playlist", json=body, headers=api.headers(key)) for _ in range(2)]
    # THEN both wait for their own job (no shared result), carry the RateLimit headers, and count as tasks
    assert [a.json()["status"] for a in answers] == ["waiting", "waiting"]
    assert all("RateLimit-Remaining" in a.headers for a in answers)
    assert all(not TaskStore(aws.clients.dynamodb, aws.settings.tasks_table).get(a.json()["task_id"]).get("result_key") for a in answers)
    status = api.client.get(f"/status/{answers[0].json()['task_id']}", headers=api.headers(key)).json()
    assert status["webhook"]["status"] == "pending" and "webhook_url" not in status and "cache" not in status
    assert api.client.get("/usage", headers=api.headers(key)).json()["totals"]["tasks"] == 2
