"""Big files on the whole local stack: a task whose file the worker uploaded while downloading it is finished like any
other: its bytes counted in /usage, its shared result published (another key is served it), its task.completed
webhook sent with a download_url that is the file.

The clips of the other e2e tests are below the multipart threshold, so none of them goes through the upload ahead.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.e2e.conftest import Client
from tests.support.http_server import MediaServer
from tests.support.media import make_large_mp4, probe
from tests.support.stack import LocalStackProcess, request
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def big_url(media_dir: Path, media_server: MediaServer) -> tuple[str, Path]:
    """A private ~30 MB H.264/AAC mp4 (over the multipart threshold, kept as it is by get_video): its URL and file."""
    folder = f"ahead-{uuid.uuid4().hex[:10]}"
    source = make_large_mp4(media_dir / folder / "big.mp4", megabytes=30, height=360)
    return media_server.url(f"{folder}/big.mp4"), source


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """check()'s first truthy answer; AssertionError after `timeout` seconds (the counters are written just after the status)."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return answer


def worker_records(stack: LocalStackProcess, task_id: str) -> list[dict[str, Any]]:
    """The workers' JSON log records about the task."""
    records = []
    for path in stack.log_dir.glob("worker-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if task_id in line and line.startswith("{"):
                records.append(json.loads(line))
    return records


def totals(client: Client, key: str) -> dict[str, int]:
    status, _, usage = client.call("GET", "/usage", key=key)
    assert status == 200, usage
    return usage["totals"]


def test_upload_ahead_file_is_counted_shared_and_announced(client: Client, stack: LocalStackProcess, big_url, receiver: WebhookReceiver, tmp_path):
    url, source = big_url
    want = sha256(source.read_bytes())
    size = source.stat().st_size
    # GIVEN a key with a webhook, asking for a 30 MB mp4 the worker keeps as it is
    key = client.new_key(["get_video"])
    status, _, secret = client.call("GET", "/webhook_secret", key=key)
    assert status == 200
    task_id = client.submit("get_video", {"url": url, "webhook_url": receiver.plan("/ahead", 200)}, key)
    # WHEN the task completes
    task = client.wait(task_id, key, timeout=240)
    assert task["status"] == "completed" and task["cached"] is False, task
    # THEN the worker uploaded it ahead (the path under test), and the file is the source, byte for byte
    records = worker_records(stack, task_id)
    assert any(r.get("message") == "uploaded ahead" for r in records), records
    assert [r.get("uploaded_ahead") for r in records if r.get("message") == "job produced its file"] == [True], records
    out = client.download(task["file"], key, tmp_path / "video.mp4")
    assert sha256(out.read_bytes()) == want
    info = probe(out)
    assert info["video"]["codec_name"] == "h264" and info["audio"]["codec_name"] == "aac"
    # AND the task.completed webhook came, signed, its download_url being the same file
    (delivery,) = receiver.wait_for("/ahead", timeout=120)
    payload = delivery.verify(secret["secret"])
    assert payload["type"] == "task.completed" and payload["data"]["task_id"] == task_id and payload["data"]["file"] == task["file"]
    status, _, media = request("GET", payload["data"]["download_url"])
    assert status == 200 and sha256(media) == want
    # AND /usage counts the task, its completion and the file's bytes
    expected = {"tasks": 1, "completed": 1, "failed": 0, "cached": 0, "bytes": size}
    assert wait_until(lambda: totals(client, key) == expected, "the usage totals"), totals(client, key)
    # AND the result was published: another key asking the same is completed at once from it, with the same bytes
    other = client.new_key(["get_video"])
    status, _, answer = client.call("POST", "/get_video", {"url": url}, key=other)
    assert status == 200 and answer["status"] == "completed" and answer["cached"] is True, answer
    status, _, shared = client.call("GET", f"/status/{answer['task_id']}", key=other)
    assert status == 200 and shared["cached"] is True
    assert sha256(client.download(shared["file"], other, tmp_path / "shared.mp4").read_bytes()) == want
    cached = {"tasks": 1, "completed": 1, "failed": 0, "cached": 1, "bytes": size}
    assert wait_until(lambda: totals(client, other) == cached, "the cached task's usage totals"), totals(client, other)
