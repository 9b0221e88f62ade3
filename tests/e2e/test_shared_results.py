"""Shared results on the whole local stack: identical requests share one download, counted at the media server.

Each test serves its own copy of the clip under a fresh folder, so no other test's result is shared with it, and
the media server's request log for that path counts exactly this test's downloads.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest

from functions.cleanup.service import CleanupService
from shared.stores.media import MediaStore
from shared.stores.results import ResultStore
from shared.stores.tasks import TaskStore
from tests.e2e.conftest import Client
from tests.support.http_server import MediaServer
from tests.support.stack import LocalStackProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def own_clip(media_dir: Path, media_server: MediaServer) -> tuple[str, str]:
    """A private copy of the 60 s clip: its URL and its URL path (to count its requests)."""
    folder = f"shared-{uuid.uuid4().hex[:10]}"
    (media_dir / folder).mkdir()
    shutil.copy(media_dir / "video.mp4", media_dir / folder / "clip.mp4")
    return media_server.url(f"{folder}/clip.mp4"), f"/{folder}/clip.mp4"


def gets(media_server: MediaServer, path: str) -> int:
    """How many GET requests the media server answered for `path`."""
    return sum(1 for r in media_server.requests_for(path) if r.method == "GET")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stores(stack: LocalStackProcess) -> tuple[Any, dict[str, str]]:
    """A DynamoDB client of the running stack and its resource names."""
    res = stack.resources()
    creds = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return boto3.client("dynamodb", endpoint_url=res["AWS_ENDPOINT_URL_DYNAMODB"], **creds), res


def result_of(stack: LocalStackProcess, owner_task: str) -> dict[str, Any] | None:
    """The shared-result item that `owner_task` owns (a scan: the test stack's table is small)."""
    dynamodb, res = stores(stack)
    for item in dynamodb.scan(TableName=res["RESULTS_TABLE"], ConsistentRead=True)["Items"]:
        if item.get("owner_task", {}).get("S") == owner_task:
            return ResultStore(dynamodb, res["RESULTS_TABLE"]).get(item["result_key"]["S"])
    return None


def post(client: Client, endpoint: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    status, _, answer = client.call("POST", f"/{endpoint}", body, key=key)
    assert status == 200, answer
    return answer


def test_shared_results_repeat_is_served_without_a_download(client: Client, media_dir, media_server, tmp_path):
    # GIVEN a clip downloaded once by one key
    url, path = own_clip(media_dir, media_server)
    first_key, second_key = client.new_key(), client.new_key()
    first = client.wait(post(client, "get_video", {"url": url}, first_key)["task_id"], first_key)
    assert first["status"] == "completed" and first["cached"] is False
    downloads = gets(media_server, path)
    assert downloads >= 1
    # WHEN another key asks for the same clip (the URL spelled differently: upper-case scheme, a fragment)
    answer = post(client, "get_video", {"url": "HTTP" + url[4:] + "#t=1"}, second_key)
    # THEN it is completed at once from the shared result, and the media server saw no new request
    assert answer["status"] == "completed" and answer["cached"] is True
    status, _, task = client.call("GET", f"/status/{answer['task_id']}", key=second_key)
    assert status == 200 and task["status"] == "completed" and task["cached"] is True
    info = client.probe_result(task, second_key, tmp_path)
    assert info["video"]["height"] == 360 and info["audio"] is not None and abs(info["duration"] - 60) < 1
    assert gets(media_server, path) == downloads
    # AND its own /files/<its id>/<name> path serves the object with its own key, not the other key's
    own_path = f"/files/{answer['task_id']}/video.mp4"
    assert client.call("GET", own_path, key=second_key, follow=False)[0] == 307
    assert client.call("GET", own_path, key=first_key, follow=False)[0] == 404


def test_shared_results_concurrent_identical_requests_make_one_download(client: Client, media_dir, media_server, tmp_path):
    # GIVEN a clip served slowly enough that the requests overlap
    url, path = own_clip(media_dir, media_server)
    media_server.set_throttle(1_500_000, path)
    keys = [client.new_key(), client.new_key()]
    # WHEN five identical requests arrive at once from two keys
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda i: (keys[i % 2], post(client, "get_video", {"url": url}, keys[i % 2])), range(5)))
    tasks = [client.wait(a["task_id"], k, timeout=180) for k, a in answers]
    # THEN all five complete with a playable file, and exactly one of them downloaded it
    for (key, _), task in zip(answers, tasks):
        info = client.probe_result(task, key, tmp_path)
        assert info["video"]["height"] == 360 and abs(info["duration"] - 60) < 1
    assert sorted(t["cached"] for t in tasks) == [False, True, True, True, True]
    shared = gets(media_server, path)
    # AND the media server saw one download's worth of requests: `cache: false` makes the same number again
    media_server.set_throttle(None, path)
    fresh = client.wait(post(client, "get_video", {"url": url, "cache": False}, keys[0])["task_id"], keys[0])
    assert fresh["status"] == "completed" and fresh["cached"] is False
    assert gets(media_server, path) - shared == shared


def test_shared_results_cache_false_downloads_again(client: Client, media_dir, media_server, tmp_path):
    # GIVEN a clip downloaded once
    url, path = own_clip(media_dir, media_server)
    key = client.new_key()
    client.wait(post(client, "get_audio", {"url": url}, key)["task_id"], key)
    before = gets(media_server, path)
    # WHEN the same request says "cache": false
    answer = post(client, "get_audio", {"url": url, "cache": False}, key)
    assert answer["status"] == "waiting" and answer["cached"] is False
    task = client.wait(answer["task_id"], key)
    # THEN it is downloaded again, and the file is the audio
    assert task["cached"] is False and gets(media_server, path) > before
    info = client.probe_result(task, key, tmp_path)
    assert info["video"] is None and info["audio"] is not None


def test_shared_results_different_output_params_do_not_share(client: Client, media_dir, media_server, tmp_path):
    # GIVEN a clip downloaded whole
    url, path = own_clip(media_dir, media_server)
    key = client.new_key()
    client.wait(post(client, "get_video", {"url": url}, key)["task_id"], key)
    before = gets(media_server, path)
    # WHEN the same URL is asked for as a 10 s cut, and as audio
    cut = client.wait(post(client, "get_video", {"url": url, "start_time": 5, "end_time": 15}, key)["task_id"], key)
    audio = client.wait(post(client, "get_audio", {"url": url}, key)["task_id"], key)
    # THEN each is a download of its own, with its own output
    assert cut["cached"] is False and audio["cached"] is False
    assert gets(media_server, path) > before
    assert abs(client.probe_result(cut, key, tmp_path)["duration"] - 10) < 1.5
    assert client.probe_result(audio, key, tmp_path)["video"] is None


def test_shared_results_waiter_takes_over_when_the_owner_fails(client: Client, stack: LocalStackProcess, media_dir, media_server, tmp_path):
    # GIVEN a clip whose first request is held and then fails (404), and two identical requests from two keys
    url, path = own_clip(media_dir, media_server)
    release = threading.Event()
    media_server.fail_requests(path, count=1, status=404, release=release)
    owner_key, waiter_key = client.new_key(), client.new_key()
    owner = post(client, "get_video", {"url": url}, owner_key)["task_id"]
    wait_until(lambda: gets(media_server, path) == 1, "the owner's request")
    waiter = post(client, "get_video", {"url": url}, waiter_key)["task_id"]
    # (the second waits for the first's download instead of starting its own)
    wait_until(lambda: waiter in (result_of(stack, owner) or {}).get("waiters", ()), "the second request to wait")
    assert gets(media_server, path) == 1
    # WHEN the owner's download fails
    release.set()
    failed = client.wait(owner, owner_key, timeout=120)
    assert failed["status"] == "error", failed
    # THEN the waiter is not failed with it: it downloads the clip itself
    task = client.wait(waiter, waiter_key, timeout=180)
    assert task["status"] == "completed" and task["cached"] is False, task
    info = client.probe_result(task, waiter_key, tmp_path)
    assert info["video"]["height"] == 360 and abs(info["duration"] - 60) < 1
    assert gets(media_server, path) > 1


def test_shared_results_never_for_a_key_with_its_own_cookies(client: Client, media_dir, media_server):
    # GIVEN a clip downloaded by a key that sends its own cookies
    url, path = own_clip(media_dir, media_server)
    with_cookies, other = client.new_key(), client.new_key()
    jar = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsecret-value\n"
    status, _, body = client.call("PUT", "/cookies", {"cookies": jar}, key=with_cookies)
    assert status == 204, body
    client.wait(post(client, "get_video", {"url": url}, with_cookies)["task_id"], with_cookies)
    before = gets(media_server, path)
    # WHEN another key asks for the same clip
    task = client.wait(post(client, "get_video", {"url": url}, other)["task_id"], other)
    # THEN it is not served what the cookie-holding key fetched
    assert task["cached"] is False and gets(media_server, path) > before


def test_shared_results_cleanup_keeps_the_object_while_a_task_points_at_it(client: Client, stack: LocalStackProcess, media_dir, media_server):
    # GIVEN a downloaded clip and, two seconds later, a second task served from it
    url, _ = own_clip(media_dir, media_server)
    key = client.new_key()
    first_id = post(client, "get_video", {"url": url}, key)["task_id"]
    client.wait(first_id, key)
    time.sleep(2.1)
    second = post(client, "get_video", {"url": url}, key)
    assert second["cached"] is True
    dynamodb, res = stores(stack)
    creds = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    media = MediaStore(boto3.client("s3", endpoint_url=res["AWS_ENDPOINT_URL_S3"], **creds), res["MEDIA_BUCKET"])
    tasks = TaskStore(dynamodb, res["TASKS_TABLE"])
    cleanup = CleanupService(tasks, media, None, 600, 3, results=ResultStore(dynamodb, res["RESULTS_TABLE"]))
    first, cached = tasks.read(first_id), tasks.read(second["task_id"])
    assert cached["expires_at"] > first["expires_at"]
    # WHEN the cleanup runs after the first task's time is up, but not the second's
    cleanup.run(now=first["expires_at"] + 0.5)
    # THEN the first task is gone, and the object it downloaded stays for the second
    assert tasks.read(first_id) is None
    assert media.size(first_id, "video.mp4") is not None
    assert client.call("GET", f"/files/{second['task_id']}/video.mp4", key=key, follow=False)[0] == 307
    # AND once the second task's time is up as well, the object goes
    report = cleanup.run(now=cached["expires_at"] + 120)
    assert report.shared_results_removed >= 1
    assert media.size(first_id, "video.mp4") is None
    assert tasks.read(second["task_id"]) is None
