"""The original's real clients: status["file"] opened without a key, HEAD, missing files, big and non-strict info.json."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

import pytest

from functions.api.links import sign
from shared.models import media_key
from tests.support.stack import TEST_FILE_LINK_SECRET
from tests.unit.test_api_files import INFO, finished_task

SECRET = TEST_FILE_LINK_SECRET.encode()


def status_of(api, key: str, task_id: str) -> dict:
    return api.client.get(f"/status/{task_id}", headers=api.headers(key)).json()


def test_file_link_in_status_works_without_a_key(api, aws):
    # GIVEN a completed video task
    key = api.make_key("bot", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"\x00\x00\x00\x18ftypmp42")
    file = status_of(api, key, task_id)["file"]
    # THEN its link is /files/<task_id>/<token>/<name>, the token in the path (clients append ?field&... to it)
    parts = file.split("/")
    assert parts[:3] == ["", "files", task_id] and parts[-1] == "video.mp4" and len(parts) == 5 and "?" not in file
    # WHEN an end user opens it in a browser, with no key, THEN it redirects to the stored file
    for method in ("GET", "HEAD"):
        r = api.client.request(method, file, follow_redirects=False)
        assert r.status_code == 307, (method, r.text)
        assert urllib.parse.urlsplit(r.headers["location"]).path.endswith(f"/tasks/{task_id}/video.mp4")
    # AND the keyed path keeps working for the owning key, with HEAD too
    r = api.client.head(f"/files/{task_id}/video.mp4", headers=api.headers(key), follow_redirects=False)
    assert r.status_code == 307


def test_file_link_info_filters_work_through_the_link(api, aws):
    key = api.make_key("bot", ["get_info"])
    task_id = finished_task(api, aws, key, "get_info", "info.json", json.dumps(INFO).encode())
    file = status_of(api, key, task_id)["file"]
    # the way yt-dlp-host-api's get_json(fields) builds the URL
    r = api.client.get(file + "?title&duration&")
    assert r.status_code == 200 and r.json() == {"title": "Test clip", "duration": 20}
    assert api.client.get(file).json() == INFO


def _forged_links(task_id: str, other_id: str, good: str) -> dict[str, str]:
    future = int(time.time()) + 3600
    expiry, signature = good.split("/")[3].split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return {
        "flipped-signature": f"/files/{task_id}/{expiry}.{flipped}/video.mp4",
        "later-expiry-same-signature": f"/files/{task_id}/{int(expiry) + 60}.{signature}/video.mp4",
        "other-secret": f"/files/{task_id}/{sign(b'guessed', task_id, 'video.mp4', future)}/video.mp4",
        "expired": f"/files/{task_id}/{sign(SECRET, task_id, 'video.mp4', int(time.time()) - 1)}/video.mp4",
        "other-name": f"/files/{task_id}/{sign(SECRET, task_id, 'audio.mp3', future)}/video.mp4",
        "other-task": f"/files/{task_id}/{sign(SECRET, other_id, 'video.mp4', future)}/video.mp4",
        "garbage": f"/files/{task_id}/not-a-token/video.mp4",
        "no-expiry": f"/files/{task_id}/{signature}/video.mp4",
    }


def test_forged_or_expired_file_links_are_404_like_a_missing_file(api, aws):
    key = api.make_key("bot", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"data")
    other_id = finished_task(api, aws, key, "get_video", "video.mp4", b"data")
    good = status_of(api, key, task_id)["file"]
    for case, path in _forged_links(task_id, other_id, good).items():
        for method in ("GET", "HEAD"):
            r = api.client.request(method, path, follow_redirects=False)
            assert r.status_code == 404, (case, method, r.status_code)
            if method == "GET":
                assert r.json() == {"error": "File not found"}, case
    # WHEN the task's time is up THEN its once-good link is 404 too
    aws.clients.dynamodb.update_item(
        TableName=aws.settings.tasks_table, Key={"task_id": {"S": task_id}}, UpdateExpression="SET expires_at = :t", ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 1)}}
    )
    assert api.client.get(good, follow_redirects=False).status_code == 404


def test_file_link_tokens_never_reach_the_logs(api, aws, caplog):
    caplog.set_level(logging.DEBUG)
    key = api.make_key("bot", ["get_video"])
    task_id = finished_task(api, aws, key, "get_video", "video.mp4", b"data")
    file = status_of(api, key, task_id)["file"]
    api.client.get(file, follow_redirects=False)
    api.client.get(file.replace("video.mp4", "audio.mp3"), follow_redirects=False)
    token = file.split("/")[3]
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # httpx: the test's own client
    assert server_side and all(token not in r.getMessage() and token not in str(vars(r)) for r in server_side)


@pytest.mark.parametrize(("task_type", "name"), [("get_video", "video.mp4"), ("get_info", "info.json")])
def test_completed_task_whose_file_is_gone_is_a_readable_404(api, aws, task_type, name):
    # GIVEN a task that says completed, but whose object is not (or no longer) in the bucket
    key = api.make_key("gone", [task_type])
    task_id = finished_task(api, aws, key, task_type, name, b"{}")
    aws.clients.s3.delete_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, name))
    link = status_of(api, key, task_id)["file"]
    # WHEN it is fetched, keyed or through its link, THEN 404 with a readable error, not a 503
    for r in (api.client.get(f"/files/{task_id}/{name}", headers=api.headers(key), follow_redirects=False), api.client.get(link, follow_redirects=False)):
        assert r.status_code == 404 and "no longer in storage" in r.json()["error"]


def test_big_info_json_is_handed_out_like_media_but_filters_still_answer(make_api, aws):
    api = make_api(info_inline_max_bytes=1024)
    key = api.make_key("big", ["get_info"])
    info = {**INFO, "description": "x" * 4096}
    task_id = finished_task(api, aws, key, "get_info", "info.json", json.dumps(info).encode())
    link = status_of(api, key, task_id)["file"]
    r = api.client.get(link, follow_redirects=False)
    assert r.status_code == 307 and urllib.parse.urlsplit(r.headers["location"]).path.endswith(f"/tasks/{task_id}/info.json")
    assert api.client.get(link + "?title").json() == {"title": "Test clip"}
    assert set(api.client.get(link + "?qualities").json()["qualities"]) == {"audio", "video"}


def test_nan_and_infinity_in_info_json_never_give_a_500(api, aws):
    # yt-dlp writes NaN and Infinity literals (Python's json does), which strict JSON has not
    key = api.make_key("nan", ["get_info"])
    raw = json.dumps({**INFO, "average_rating": float("nan"), "formats": [*INFO["formats"], {"format_id": "a-nan", "vcodec": "none", "acodec": "opus", "abr": float("inf"), "tbr": float("nan")}, {"format_id": "v-nan", "vcodec": "vp9", "acodec": "none", "height": 480, "fps": float("nan")}]})
    assert "NaN" in raw and "Infinity" in raw
    task_id = finished_task(api, aws, key, "get_info", "info.json", raw.encode())
    url = f"/files/{task_id}/info.json"
    whole = api.client.get(url, headers=api.headers(key))
    assert whole.status_code == 200 and whole.json()["average_rating"] is None
    some = api.client.get(url + "?average_rating&formats", headers=api.headers(key))
    assert some.status_code == 200 and some.json()["formats"][-1]["fps"] is None
    q = api.client.get(url + "?qualities", headers=api.headers(key))
    assert q.status_code == 200
    assert "a-nan" not in q.json()["qualities"]["audio"] and "v-nan" not in q.json()["qualities"]["video"]


# The formats of a real YouTube info.json, cut down to what the original's qualities read, with the gaps it has.
YOUTUBE_FORMATS = [
    {"format_id": "sb2", "format_note": "storyboard", "vcodec": "none", "acodec": "none", "fps": 0.5, "height": 45, "width": 80},
    {"format_id": "233", "format_note": "Default", "vcodec": "none", "acodec": "unknown", "abr": None, "language": "en"},
    {"format_id": "249-drc", "format_note": "low, DRC", "vcodec": "none", "acodec": "opus", "abr": 47.831, "audio_channels": 2, "filesize": 528993, "language": "en"},
    {"format_id": "139", "format_note": "low", "vcodec": "none", "acodec": "mp4a.40.5", "abr": 48.776, "audio_channels": None, "filesize": None, "filesize_approx": 549935, "language": "en"},
    {"format_id": "140", "format_note": "medium", "vcodec": "none", "acodec": "mp4a.40.2", "abr": 129.478, "audio_channels": 2, "language": None},
    {"format_id": "x-unknown", "format_note": "unknown", "vcodec": "none", "acodec": "opus", "abr": 160},
    {"format_id": "394", "format_note": "144p", "vcodec": "av01.0.00M.08", "acodec": "none", "height": 144, "width": 256, "fps": 25, "dynamic_range": "SDR", "filesize": 1009634.0},
    {"format_id": "134", "format_note": "360p", "vcodec": "avc1.4D401E", "acodec": "none", "height": 360, "width": 640, "fps": 25.0, "dynamic_range": "SDR", "filesize": None},
    {"format_id": "243", "format_note": "360p", "vcodec": "vp9", "acodec": "none", "height": 360, "width": None, "fps": 30, "dynamic_range": None},
    {"format_id": "no-fps", "vcodec": "vp9", "acodec": "none", "height": 720, "width": 1280, "fps": None},
    {"format_id": "18", "format_note": "360p", "vcodec": "avc1.42001E", "acodec": "mp4a.40.2", "height": 360, "width": 640, "fps": 25, "abr": 96},
]


def test_qualities_have_the_originals_types_and_filtering(api, aws):
    key = api.make_key("q", ["get_info"])
    task_id = finished_task(api, aws, key, "get_info", "info.json", json.dumps({"id": "y", "formats": YOUTUBE_FORMATS}).encode())
    q = api.client.get(status_of(api, key, task_id)["file"] + "?qualities").json()["qualities"]
    # no storyboard, no format_note "unknown", none without the field its list is sorted by
    assert list(q["audio"]) == ["249-drc", "139", "140"]
    assert list(q["video"]) == ["394", "134", "18", "243"]
    assert q["audio"]["139"] == {"abr": 48, "acodec": "mp4a.40.5", "audio_channels": 0, "language": "en", "filesize": 549935}
    assert q["video"]["243"] == {"height": 360, "width": 0, "fps": 30, "vcodec": "vp9", "format_note": "360p", "dynamic_range": "unknown", "filesize": 0}
    # the way the bots read them: f"{height}p{fps}" and f"{abr}kbps"
    assert [f"{v['height']}p{v['fps']}" for v in q["video"].values()] == ["144p25", "360p25", "360p25", "360p30"]
    assert [f"{a['abr']}kbps" for a in q["audio"].values()] == ["47kbps", "48kbps", "129kbps"]
    for table in q.values():
        for entry in table.values():
            for field in ("abr", "audio_channels", "height", "width", "fps", "filesize"):
                if field in entry:
                    assert type(entry[field]) is int, (field, entry)
