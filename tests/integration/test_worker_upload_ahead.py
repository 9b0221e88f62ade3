"""Big files: the worker (a real `python -m functions.worker`) uploads a single-file download's parts to S3 while
the download is still running, and what the bucket keeps is always the final file, with no multipart upload left.

The honest observable: the media server holds back the last bytes of the file until the test releases them; the
test looks at the bucket meanwhile. With the upload after the download (the code before this change), no part can
exist while the last byte has not been sent.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.http_server import MediaServer
from tests.support.media import _ffmpeg, make_large_mp4, probe
from tests.support.stack import DeployedStack
from tests.support.worker import (
    Queues,
    WorkerProcess,
    emulator,  # noqa: F401  (fixture)
    fetch_output,
    make_queues,
    submit,
    wait_for_task,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HELD = 1024 * 1024  # bytes the media server keeps back until the test has looked at the bucket


@pytest.fixture(scope="module")
def big_media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """A loopback server over two ~30 MB mp4s: H.264/AAC (kept as it is) and MPEG-4 Part 2 (re-encoded to H.264)."""
    root = tmp_path_factory.mktemp("big-media")
    make_large_mp4(root / "h264.mp4", megabytes=30, height=360)
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=10,noise=alls=30:allf=t+u",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=10",
        "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-b:v", "24M", "-c:a", "aac", "-b:a", "128k",
        "-movflags", "+faststart", "-shortest", str(root / "mpeg4.mp4"), timeout=300,
    )  # fmt: skip
    with MediaServer(root) as server:
        yield server


@pytest.fixture(scope="module")
def queues(emulator: DeployedStack) -> Queues:  # noqa: F811
    return make_queues(emulator, visibility=10)


@pytest.fixture(scope="module")
def worker(emulator: DeployedStack, queues: Queues, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:  # noqa: F811
    root = tmp_path_factory.mktemp("upload-ahead")
    # A socket timeout above the time the test holds the last bytes back, so yt-dlp waits instead of retrying.
    env = {"SCRATCH_DIR": str(root / "scratch"), "SOCKET_TIMEOUT": "60", "UPLOAD_CONCURRENCY": "2"}
    process = WorkerProcess(emulator, queues.url, root / "worker.log", env).start()
    yield process
    process.stop()


def served_copy(server: MediaServer, name: str) -> str:
    """A private copy of a served file (its own URL path, so holds concern one test); returns its URL path."""
    target = f"/{Path(name).stem}-{uuid.uuid4().hex[:8]}.mp4"
    (server.root / target.lstrip("/")).write_bytes((server.root / name).read_bytes())
    return target


def uploads(stack: DeployedStack, task_id: str) -> list[dict[str, Any]]:
    reply = stack.clients.s3.list_multipart_uploads(Bucket=stack.settings.media_bucket, Prefix=f"tasks/{task_id}/")
    return reply.get("Uploads") or []


def parts_while_held(stack: DeployedStack, server: MediaServer, path: str, task_id: str, timeout: float = 90) -> int:
    """Parts S3 holds for the task while the media server still has not sent the file's last byte (0: none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.tails_sent[path] == 0
        for upload in uploads(stack, task_id):
            parts = stack.clients.s3.list_parts(Bucket=stack.settings.media_bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            if parts.get("Parts"):
                assert server.tails_sent[path] == 0  # still held: the parts came before the download's end
                return len(parts["Parts"])
        time.sleep(0.1)
    return 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_worker_uploads_parts_before_the_download_ends_and_the_file_is_the_source(emulator, queues, worker, big_media, tmp_path):  # noqa: F811
    # GIVEN a 30 MB mp4 whose last MiB the server holds back
    path = served_copy(big_media, "h264.mp4")
    release = big_media.hold_tail(path, HELD)
    # WHEN the worker downloads it as video in mp4 (the download is the output as it is)
    task_id = submit(emulator, queues, "get_video", big_media.base_url + path)
    try:
        seen = parts_while_held(emulator, big_media, path, task_id)
    finally:
        release.set()
    task = wait_for_task(emulator, task_id, timeout=120, worker=worker)
    # THEN S3 had parts of the file before the last byte left the server
    assert seen >= 1, f"no part uploaded while the download was running\n{worker.logs()}"
    # AND the file is the source, byte for byte, and plays as it
    assert task["status"] == "completed", task
    out = fetch_output(emulator, task, tmp_path)
    source = big_media.root / path.lstrip("/")
    assert sha256(out) == sha256(source)
    got, want = probe(out), probe(source)
    assert abs(got["duration"] - want["duration"]) < 0.1
    assert got["video"]["codec_name"] == "h264" and got["audio"]["codec_name"] == "aac"
    # AND no multipart upload is left
    assert uploads(emulator, task_id) == []
    assert any(r.get("message") == "uploaded ahead" and r.get("task_id") == task_id for r in worker.log_records())


def test_worker_discards_the_upload_ahead_when_post_processing_changes_the_file(emulator, queues, worker, big_media, tmp_path):  # noqa: F811
    # GIVEN an mp4 whose video (MPEG-4 Part 2) the mp4 output does not keep: the job re-encodes it in place
    path = served_copy(big_media, "mpeg4.mp4")
    release = big_media.hold_tail(path, HELD)
    task_id = submit(emulator, queues, "get_video", big_media.base_url + path)
    # WHEN the worker has uploaded parts of the download ahead (the same name, video.mp4, other bytes at the end)
    try:
        seen = parts_while_held(emulator, big_media, path, task_id)
    finally:
        release.set()
    task = wait_for_task(emulator, task_id, timeout=180, worker=worker)
    assert seen >= 1, worker.logs()
    # THEN the bucket has the final, re-encoded file, complete
    assert task["status"] == "completed", task
    out = fetch_output(emulator, task, tmp_path)
    info = probe(out)
    assert info["video"]["codec_name"] == "h264" and info["audio"]["codec_name"] == "aac"
    assert abs(info["duration"] - 10) < 0.5
    assert sha256(out) != sha256(big_media.root / path.lstrip("/"))
    # AND the upload ahead was aborted: nothing incomplete is left
    assert uploads(emulator, task_id) == []
    assert any(r.get("message") == "upload ahead discarded: the final file differs" and r.get("task_id") == task_id for r in worker.log_records())


def test_worker_clip_of_a_big_file_is_correct_and_leaves_no_upload(emulator, queues, worker, big_media, tmp_path):  # noqa: F811
    # GIVEN a clip of the big file (ffmpeg cuts it: the download is not the output)
    path = served_copy(big_media, "h264.mp4")
    task_id = submit(emulator, queues, "get_video", big_media.base_url + path, {"start_time": 2, "end_time": 6})
    # WHEN the worker runs it
    task = wait_for_task(emulator, task_id, timeout=120, worker=worker)
    # THEN the clip is right and no multipart upload is left
    assert task["status"] == "completed", task
    info = probe(fetch_output(emulator, task, tmp_path))
    assert abs(info["duration"] - 4) <= 0.6 and info["video"]["codec_name"] == "h264" and info["audio"] is not None
    assert uploads(emulator, task_id) == []
