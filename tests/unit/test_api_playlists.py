"""get_playlist and the new options through the API: permission, validation (400, nothing stored or queued),
one rate-limit slot per playlist, and a playlist's status with its entries and signed file links."""

from __future__ import annotations

import json

import pytest

from shared.stores.playlists import entry_task_id
from shared.stores.tasks import TaskStore

FEED = "https://media.example.com/feed.xml"


def queued(aws) -> list[str]:
    messages = aws.clients.sqs.receive_message(QueueUrl=aws.settings.jobs_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"])["task_id"] for m in messages]


def test_get_playlist_needs_its_own_permission(api):
    # GIVEN a key with every download permission but get_playlist
    key = api.make_key("p", ["get_video", "get_audio", "get_info"])
    # WHEN it asks for a playlist, THEN it is refused
    r = api.client.post("/get_playlist", json={"url": FEED}, headers=api.headers(key))
    assert r.status_code == 403 and "error" in r.json()


def test_get_playlist_accepts_and_shows_its_parameters(api, aws):
    key = api.make_key("p", ["get_playlist"])
    r = api.client.post("/get_playlist", json={"url": FEED, "items": "1-5,8", "zip": True, "subtitles": ["en"]}, headers=api.headers(key))
    assert r.status_code == 200 and r.json()["status"] == "waiting"
    task_id = r.json()["task_id"]
    assert queued(aws) == [task_id]
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert status["task_type"] == "get_playlist" and status["kind"] == "video" and status["output_format"] == "mp4"
    assert status["items"] == "1-5,8" and status["zip"] is True and status["subtitles"] == ["en"]
    assert "embed_thumbnail" not in status  # options left at their defaults are not shown


def test_get_playlist_counts_once_against_the_rate_limit(make_api):
    api = make_api(request_limit=2)
    key = api.make_key("p", ["get_playlist"])
    codes = [api.client.post("/get_playlist", json={"url": FEED}, headers=api.headers(key)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/get_playlist", {"url": FEED, "kind": "pictures"}, "kind"),
        ("/get_playlist", {"url": FEED, "items": "one-two"}, "items"),
        ("/get_playlist", {"url": FEED, "kind": "audio", "output_format": "mp4"}, "output_format"),
        ("/get_playlist", {"url": FEED, "kind": "audio", "embed_subtitles": True}, "embed_subtitles"),
        ("/get_video", {"url": FEED, "subtitles": ["english!"]}, "language"),
        ("/get_video", {"url": FEED, "subtitles": "en"}, "subtitles"),
        ("/get_video", {"url": FEED, "subtitles": ["en"], "subtitle_format": "ass"}, "subtitle_format"),
        ("/get_video", {"url": FEED, "output_format": "webm", "embed_subtitles": True}, "mp4 or mkv"),
        ("/get_video", {"url": FEED, "output_format": "gif", "embed_thumbnail": True}, "embed_thumbnail"),
        ("/get_video", {"url": FEED, "sponsorblock_remove": ["adverts"]}, "SponsorBlock category"),
        ("/get_video", {"url": FEED, "sponsorblock_remove": ["sponsor"], "end_time": 30}, "start_time/end_time"),
        ("/get_video", {"url": FEED, "auto_subtitles": True}, "auto_subtitles"),
        ("/get_audio", {"url": FEED, "embed_subtitles": True}, "video only"),
        ("/get_audio", {"url": FEED, "output_format": "wav", "embed_thumbnail": True}, "embed_thumbnail"),
    ],
)
def test_options_that_cannot_work_are_refused_with_a_clear_message(api, aws, path, body, words):
    key = api.make_key("p", ["get_playlist", "get_video", "get_audio"])
    r = api.client.post(path, json=body, headers=api.headers(key))
    assert r.status_code == 400, r.text
    assert words.lower() in r.json()["error"].lower()
    assert queued(aws) == []


def test_playlist_status_lists_entries_progress_and_signed_files(api, aws):
    # GIVEN a playlist whose worker expanded it into two entries, one completed and one failed
    key = api.make_key("p", ["get_playlist"])
    task_id = api.client.post("/get_playlist", json={"url": FEED}, headers=api.headers(key)).json()["task_id"]
    tasks = TaskStore(aws.clients.dynamodb, aws.settings.tasks_table)
    playlist = tasks.start(task_id, "w/1", 60)
    entries = [{"index": i, "title": f"E{i}", "stem": f"0{i}-E{i}", "status": "waiting"} for i in (1, 2)]
    assert tasks.playlists.set_entries(task_id, "w/1", entries, truncated=True, playlist_count=9)
    tasks.playlists.detach(task_id, "w/1")
    for e in entries:
        tasks.playlists.create_entry(playlist, {k: e[k] for k in ("index", "title", "stem")}, "get_video", "https://e", {}, 60)
    from shared.stores.playlists import on_entry_ended

    first = tasks.get(entry_task_id(task_id, 1))
    on_entry_ended(tasks.playlists, None, first, True, 600, file_name="01-E1.mp4", files=["01-E1.mp4", "01-E1.subtitles.en.vtt"])
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=f"tasks/{task_id}/01-E1.mp4", Body=b"x")
    # WHILE the second runs, THEN the first's file can already be fetched
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert status["status"] == "processing" and status["progress"] == {"total": 2, "completed": 1, "failed": 0}
    assert status["truncated"] is True and status["playlist_count"] == 9
    r = api.client.get(f"/files/{task_id}/01-E1.mp4", headers=api.headers(key), follow_redirects=False)
    assert r.status_code == 307
    # WHEN the second fails, THEN the playlist is completed and lists every file as a signed link
    on_entry_ended(tasks.playlists, None, tasks.get(entry_task_id(task_id, 2)), False, 600, error="HTTP Error 404: Not Found")
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert status["status"] == "completed"
    assert [e["status"] for e in status["entries"]] == ["completed", "error"]
    assert status["entries"][1]["error"] == "HTTP Error 404: Not Found"
    assert status["entries"][0]["file"].startswith(f"/files/{task_id}/") and status["entries"][0]["file"].endswith("/01-E1.mp4")
    assert [f.rsplit("/", 1)[1] for f in status["files"]] == ["01-E1.mp4", "01-E1.subtitles.en.vtt"]
    # AND an entry's internal task is not a task of the API
    assert api.client.get(f"/status/{entry_task_id(task_id, 1)}", headers=api.headers(key)).status_code in (400, 404)
    # AND a name the playlist never produced is a 404
    assert api.client.get(f"/files/{task_id}/02-E2.mp4", headers=api.headers(key), follow_redirects=False).status_code == 404
