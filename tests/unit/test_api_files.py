"""/files: presigned redirects for media, info.json filters and qualities, and nothing outside a task's own file."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from shared.models import media_key

INFO = {
    "id": "x",
    "title": "Test clip",
    "duration": 20,
    "formats": [
        {"format_id": "a-hi", "vcodec": "none", "acodec": "mp4a.40.2", "abr": 128, "audio_channels": 2, "filesize": 10},
        {"format_id": "a-lo", "vcodec": "none", "acodec": "opus", "abr": 48, "audio_channels": 2},
        {"format_id": "v360", "vcodec": "avc1.4d401e", "acodec": "none", "height": 360, "width": 640, "fps": 25, "format_note": "360p", "dynamic_range": "SDR"},
        {"format_id": "v240", "vcodec": "avc1.4d4015", "acodec": "none", "height": 240, "width": 426, "fps": 25, "format_note": "240p", "dynamic_range": "SDR"},
        {"format_id": "sb0", "vcodec": "none", "acodec": "none", "format_note": "storyboard"},
    ],
}


def finished_task(api, aws, key: str, task_type: str, file_name: str, payload: bytes) -> str:
    """A task as the worker leaves it: the file in S3 under the task's prefix, the item completed."""
    task_id = api.client.post(f"/{task_type}", json={"url": "https://m.example.com/x"}, headers=api.headers(key)).json()["task_id"]
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, file_name), Body=payload)
    assert api.container.tasks.complete(task_id, file_name, ttl_seconds=600)
    return task_id


def test_media_file_redirects_to_a_presigned_link_that_expires_with_the_task(api, aws):
    key = api.make_key("m", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"\x00\x00\x00\x18ftypmp42")
    status = api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()
    assert status["status"] == "completed" and status["file"].startswith(f"/files/{task_id}/") and status["completed_time"]
    assert status["file"].endswith("/video.mp4")
    r = api.client.get(status["file"], headers=api.headers(key), follow_redirects=False)
    assert r.status_code == 307
    link = urllib.parse.urlsplit(r.headers["location"])
    query = urllib.parse.parse_qs(link.query)
    assert link.path.endswith(f"/tasks/{task_id}/video.mp4")
    assert 590 <= int(query["X-Amz-Expires"][0]) <= 600
    assert query["response-content-disposition"][0].startswith("inline")
    r = api.client.get(status["file"] + "?raw=true", headers=api.headers(key), follow_redirects=False)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)["response-content-disposition"][0].startswith("attachment")


def test_info_json_whole_filtered_and_qualities(api, aws):
    key = api.make_key("i", ["get_info"])
    task_id = finished_task(api, aws, key, "get_info", "info.json", json.dumps(INFO).encode())
    url = f"/files/{task_id}/info.json"
    assert api.client.get(url, headers=api.headers(key)).json() == INFO
    assert api.client.get(url + "?title&duration", headers=api.headers(key)).json() == {"title": "Test clip", "duration": 20}
    q = api.client.get(url + "?qualities", headers=api.headers(key)).json()["qualities"]
    assert list(q["audio"]) == ["a-lo", "a-hi"] and q["audio"]["a-hi"] == {"abr": 128, "acodec": "mp4a.40.2", "audio_channels": 2, "language": None, "filesize": 10}
    assert list(q["video"]) == ["v240", "v360"]
    assert q["video"]["v360"] == {"height": 360, "width": 640, "fps": 25, "vcodec": "avc1.4d401e", "format_note": "360p", "dynamic_range": "SDR", "filesize": 0}
    r = api.client.get(url + "?nonexistent", headers=api.headers(key))
    assert r.status_code == 404 and "error" in r.json()


@pytest.mark.parametrize(
    "path",
    [
        "/files/{id}/audio.mp3",
        "/files/{id}/..%2F..%2Fetc%2Fpasswd",
        "/files/{id}/%2E%2E",
        "/files/{id}//etc/passwd",
        "/files/{id}/video.mp4/..",
        "/files/AAAAAAAAAAAAAAAA/video.mp4",
        "/files/../../etc/passwd",
        "/files/{id}",
    ],
)
def test_files_outside_the_task_are_unreachable(api, aws, path):
    key = api.make_key("p", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"data")
    r = api.client.get(path.format(id=task_id), headers=api.headers(key), follow_redirects=False)
    assert r.status_code == 404 and "error" in r.json(), path


def test_files_are_private_to_the_creating_key_and_gone_after_expiry(api, aws):
    owner = api.make_key("o", ["get_video"])
    task_id = finished_task(api, aws, owner, "get_video", "video.mp4", b"data")
    assert api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(api.admin_key), follow_redirects=False).status_code == 404
    assert api.client.get(f"/files/{task_id}/video.mp4", follow_redirects=False).status_code == 401
    # WHEN the task's time is up THEN status and file are 404 even before the cleanup has run
    aws.clients.dynamodb.update_item(
        TableName=aws.settings.tasks_table, Key={"task_id": {"S": task_id}}, UpdateExpression="SET expires_at = :t", ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 1)}}
    )
    assert api.client.get(f"/status/{task_id}", headers=api.headers(owner)).status_code == 404
    assert api.client.get(f"/files/{task_id}/video.mp4", headers=api.headers(owner), follow_redirects=False).status_code == 404
