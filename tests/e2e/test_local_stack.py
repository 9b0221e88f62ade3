"""The product end to end: `python -m infra.local` (what `make run` starts) driven over HTTP like a client of the original.

API → DynamoDB/SQS in the emulator → worker process → yt-dlp/ffmpeg on media served from loopback → S3 → presigned link,
checked with ffprobe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from tests.e2e.conftest import ADMIN_KEY, REQUEST_LIMIT, Client
from tests.support.media import probe
from tests.support.stack import LocalStackProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_full_video_download(client: Client, media_urls, tmp_path):
    key = client.new_key()
    task = client.wait(client.submit("get_video", {"url": media_urls["mp4"]}, key), key)
    info = client.probe_result(task, key, tmp_path)
    assert task["file"].endswith("/video.mp4")
    assert info["video"]["height"] == 360 and info["audio"] is not None
    assert abs(info["duration"] - 60) < 1


def test_clip_is_cut_to_the_requested_length(client: Client, media_urls, tmp_path):
    key = client.new_key()
    body = {"url": media_urls["mp4"], "start_time": "00:20", "end_time": 35, "force_keyframes": True}
    task = client.wait(client.submit("get_video", body, key), key)
    info = client.probe_result(task, key, tmp_path)
    assert abs(info["duration"] - 15) < 1, info["duration"]
    assert task["start_time"] == 20 and task["end_time"] == 35


def test_format_selection_on_an_hls_master(client: Client, media_urls, tmp_path):
    key = client.new_key()
    body = {"url": media_urls["hls_master"], "video_format": "bestvideo[height<=240]", "audio_format": "bestaudio"}
    info = client.probe_result(client.wait(client.submit("get_video", body, key), key), key, tmp_path)
    assert info["video"]["height"] == 240 and info["audio"] is not None


def test_audio_only_and_mp3(client: Client, media_urls, tmp_path):
    key = client.new_key()
    plain = client.submit("get_audio", {"url": media_urls["hls_master"]}, key)
    mp3 = client.submit("get_audio", {"url": media_urls["mp4"], "output_format": "mp3", "start_time": 5, "end_time": 15}, key)
    plain_info = client.probe_result(client.wait(plain, key), key, tmp_path)
    assert plain_info["video"] is None and plain_info["audio"] is not None
    mp3_task = client.wait(mp3, key)
    assert mp3_task["file"].endswith("/audio.mp3")
    mp3_info = client.probe_result(mp3_task, key, tmp_path)
    assert mp3_info["video"] is None and mp3_info["audio"]["codec_name"] == "mp3"
    assert abs(mp3_info["duration"] - 10) < 1.5


def test_info_filters_and_qualities(client: Client, media_urls):
    key = client.new_key()
    task = client.wait(client.submit("get_info", {"url": media_urls["hls_master"]}, key), key)
    assert task["status"] == "completed" and task["file"].endswith("/info.json")
    status, _, whole = client.call("GET", task["file"], key=key)
    assert status == 200 and whole["formats"]
    status, _, some = client.call("GET", task["file"] + "?title&formats", key=key)
    assert status == 200 and set(some) == {"title", "formats"}
    status, _, q = client.call("GET", task["file"] + "?qualities", key=key)
    assert status == 200
    heights = [v["height"] for v in q["qualities"]["video"].values()]
    assert heights == [240, 360]
    # As in the original, only formats with the field a list is sorted by: this HLS audio rendition has no abr.
    assert all(type(a["abr"]) is int and a["abr"] > 0 for a in q["qualities"]["audio"].values())
    status, _, missing = client.call("GET", task["file"] + "?no_such_key", key=key)
    assert status == 404 and "error" in missing


def test_live_recording_has_the_requested_length(client: Client, live_stream, tmp_path):
    key = client.new_key()
    task = client.wait(client.submit("get_live_video", {"url": live_stream.url, "duration": 6}, key), key, timeout=120)
    info = client.probe_result(task, key, tmp_path)
    assert abs(info["duration"] - 6) < 2 and info["video"] is not None


def test_live_audio_recording(client: Client, live_stream, tmp_path):
    key = client.new_key()
    task = client.wait(client.submit("get_live_audio", {"url": live_stream.url, "duration": 5, "output_format": "m4a"}, key), key, timeout=120)
    info = client.probe_result(task, key, tmp_path)
    assert info["video"] is None and abs(info["duration"] - 5) < 2


def test_download_error_is_a_readable_task_error(client: Client, media_server):
    key = client.new_key()
    task = client.wait(client.submit("get_video", {"url": media_server.url("missing.mp4")}, key), key)
    assert task["status"] == "error" and task["error"] and "Traceback" not in task["error"]


def test_status_and_files_are_private_and_unknown_ids_404(client: Client, media_urls):
    owner, other = client.new_key(), client.new_key()
    task = client.wait(client.submit("get_info", {"url": media_urls["mp4"]}, owner), owner)
    assert client.call("GET", f"/status/{task['file'].split('/')[2]}", key=other)[0] == 404
    # the keyed path is the owner's only (the signed link in `file` is the owner's to hand out)
    task_id = task["file"].split("/")[2]
    assert client.call("GET", f"/files/{task_id}/info.json", key=other, follow=False)[0] == 404
    assert client.call("GET", f"/files/{task_id}/info.json", key=owner, follow=False)[0] == 200
    assert client.call("GET", "/status/ZZZZZZZZZZZZZZZZ", key=owner)[0] == 404


def test_rate_limit_refuses_the_request_past_the_limit(client: Client, media_urls):
    key = client.new_key()
    for _ in range(REQUEST_LIMIT):
        client.submit("get_info", {"url": media_urls["mp4"]}, key)
    status, headers, body = client.call("POST", "/get_info", {"url": media_urls["mp4"]}, key=key)
    assert status == 429 and "error" in body and int(headers["retry-after"]) > 0


def test_usage_and_ratelimit_headers_follow_a_keys_tasks(client: Client, media_urls, media_server, tmp_path):
    # GIVEN a key created with its own request_limit of 2
    name = f"metered-{time.monotonic_ns()}"
    status, _, created = client.call("POST", "/create_key", {"name": name, "permissions": ["get_video"], "request_limit": 2})
    assert status == 201, created
    key = created["key"]
    # WHEN it downloads a video and asks for a missing one
    status, headers, accepted = client.call("POST", "/get_video", {"url": media_urls["mp4"]}, key=key)
    assert status == 200 and (headers["ratelimit-limit"], headers["ratelimit-remaining"], headers["ratelimit-policy"]) == ("2", "1", "2;w=600")  # TASK_CLEANUP_TIME 10
    video = client.wait(accepted["task_id"], key)
    path = client.download(video["file"], key, tmp_path / "video.mp4")
    assert abs(probe(path)["duration"] - 60) < 1
    size = path.stat().st_size
    missing = client.wait(client.submit("get_video", {"url": media_server.url("missing.mp4")}, key), key)
    assert missing["status"] == "error"
    # THEN the third task is refused with the headers at 0, and Retry-After
    status, headers, body = client.call("POST", "/get_video", {"url": media_urls["mp4"]}, key=key)
    assert status == 429 and headers["ratelimit-remaining"] == "0" and headers["retry-after"] == headers["ratelimit-reset"] and set(body) == {"error"}
    # AND /usage shows the window and the totals, with the bytes of the file it produced
    status, _, usage = client.call("GET", "/usage", key=key)
    assert status == 200 and (usage["name"], usage["limit"], usage["used"], usage["remaining"]) == (name, 2, 2, 0)
    assert usage["totals"] == {"tasks": 2, "completed": 1, "failed": 1, "cached": 0, "bytes": size} and size > 0
    # AND the admin sees the same by name
    assert client.call("GET", f"/usage/{name}")[2]["totals"] == usage["totals"]


def test_malformed_requests_are_4xx_json(client: Client):
    for raw in (b"{", b"[]", b'{"url": 1}', b'{"url": "http://127.0.0.1/x", "start_time": "x"}'):
        status, _, body = client.call("POST", "/get_video", raw=raw)
        assert status == 400 and "error" in body, raw
    assert client.call("GET", "/status/x", key="not-a-key")[0] == 401


def test_sigterm_to_the_process_group_stops_everything(tmp_path):
    # GIVEN a second stack WHEN its process group gets SIGTERM THEN it exits 0 and leaves no process behind
    other = LocalStackProcess(env_overrides={"WORKER_PROCESSES": "2", "SCRATCH_DIR": str(tmp_path / "s")}, log_dir=tmp_path / "logs")
    other.start()
    pgid = other.process.pid
    assert other.stop() == 0, other.logs()
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    assert left == [], left
    assert "Admin API key (shown once" in (tmp_path / "logs" / "stack.log").read_text()


def _stack_workers(pgid: int) -> list[int]:
    """Pids in the stack's process group whose command line runs functions.worker (workers, forkservers, jobs)."""
    found = []
    for pid in subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"functions.worker" in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.slow
def test_killing_every_worker_mid_recording_loses_nothing(live_stream, tmp_path):
    # GIVEN a stack with two worker processes, recording 8 s of a live stream, progress moving
    other = LocalStackProcess(
        env_overrides={"ADMIN_API_KEY": ADMIN_KEY, "ALLOW_PRIVATE_NETWORKS": "true", "WORKER_PROCESSES": "2", "SCRATCH_DIR": str(tmp_path / "s")},
        log_dir=tmp_path / "logs",
    )
    other.start()
    try:
        client = Client(other.base_url, ADMIN_KEY)
        key = client.new_key()
        task_id = client.submit("get_live_video", {"url": live_stream.url, "duration": 8}, key)
        snapshots = []
        deadline = time.monotonic() + 60
        while len({json.dumps(s, sort_keys=True) for s in snapshots}) < 2 and time.monotonic() < deadline:
            task = client.call("GET", f"/status/{task_id}", key=key)[2]
            if task["status"] == "processing" and task.get("progress"):
                snapshots.append(task["progress"])
            time.sleep(0.2)
        assert len({json.dumps(s, sort_keys=True) for s in snapshots}) >= 2, snapshots
        assert snapshots[-1]["stage"] == "downloading", snapshots

        # WHEN every process whose command line runs functions.worker is killed with SIGKILL mid-recording
        pgid = other.process.pid
        before = _stack_workers(pgid)
        assert len(before) >= 2, before
        for pid in before:
            os.kill(pid, signal.SIGKILL)

        # THEN the task still completes, with one output of the right length, after another attempt
        task = client.wait(task_id, key, timeout=150)
        info = client.probe_result(task, key, tmp_path)
        assert abs(info["duration"] - 8) < 2 and info["video"] is not None
        assert task["attempts"] >= 2, task
        s3 = boto3.client(
            "s3", endpoint_url=other.resources()["AWS_ENDPOINT_URL_S3"], region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
        (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        objects = s3.list_objects_v2(Bucket=bucket, Prefix=f"tasks/{task_id}/").get("Contents", [])
        assert [o["Key"] for o in objects] == [f"tasks/{task_id}/{task['file'].rsplit('/', 1)[1]}"]
        # AND two worker processes run again, none of them the killed ones
        workers = [p for p in _stack_workers(pgid) if b"-m functions.worker" in Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")]
        assert len(workers) == 2 and not set(workers) & set(before), (workers, before)
    finally:
        assert other.stop() == 0, other.logs()


def test_health_shows_the_versions_the_workers_run(client: Client):
    # GIVEN the running stack  WHEN its workers have sent their first heartbeat  THEN /health names what they run
    deadline = time.monotonic() + 60
    while True:
        status, _, health = client.call("GET", "/health")
        assert status == 200, health
        if health["workers"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert health["workers"] >= 1, health
    versions = health["versions"]
    assert tuple(int(p) for p in versions["deno"].split(".")[:2]) >= (2, 3)
    assert versions["yt_dlp"] and versions["yt_dlp_ejs"] and versions["ffmpeg"]
