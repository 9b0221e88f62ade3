"""Manifests that name other protocols connect nowhere (issue 9), measured from outside: a worker process clips
from three loopback manifests whose media point at a raw TCP listener, which must see no connection at all.

Each manifest is served twice: under its own name (yt-dlp parses it) and disguised as `.mp4` (yt-dlp hands the URL
to ffmpeg, whose HLS/DASH demuxers parse it: the way the old worker connected to the listener)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.proxies import RawListener
from tests.support.stack import DeployedStack
from tests.support.worker import Queues, WorkerProcess, emulator, make_queues, submit, wait_for_task  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIP = {"start_time": 1, "end_time": 3}


@pytest.fixture(scope="module")
def listener() -> Iterator[RawListener]:
    with RawListener() as raw:
        yield raw


@pytest.fixture(scope="module")
def queues(emulator: DeployedStack) -> Queues:  # noqa: F811
    return make_queues(emulator, max_receive=1, visibility=30)


@pytest.fixture(scope="module")
def worker(emulator: DeployedStack, queues: Queues, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:  # noqa: F811
    root = tmp_path_factory.mktemp("worker-egress")
    process = WorkerProcess(emulator, queues.url, root / "worker.log", {"SCRATCH_DIR": str(root / "scratch"), "MAX_WORKERS": "3", "MAX_ATTEMPTS": "1"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def tricks(media_dir: Path, media_server, listener: RawListener) -> dict[str, str]:  # noqa: ANN001
    """The three manifests of issue 9, served by the loopback media server."""
    folder = media_dir / f"tricks-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    port = listener.port
    (folder / "base.mpd").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT1S" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="video/mp4" contentType="video">'
        '<Representation id="v" bandwidth="200000" codecs="avc1.42c00d" width="320" height="240">'
        f"<BaseURL>tcp://127.0.0.1:{port}/v.mp4</BaseURL><SegmentBase indexRange=\"0-200\"/></Representation>"
        "</AdaptationSet></Period></MPD>\n"
    )
    (folder / "segments.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        + "".join(f"#EXTINF:2.0,\nhttpproxy://127.0.0.1:{port}/seg{i}.ts\n" for i in range(5))
        + "#EXT-X-ENDLIST\n"
    )
    (folder / "master.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=320x240,CODECS=\"avc1.42c00d,mp4a.40.2\"\ntcp://127.0.0.1:{port}/v.m3u8\n"
    )
    for name in NAMES:
        (folder / f"{name.split('.')[0]}-disguised.mp4").write_bytes((folder / name).read_bytes())
    return {name: media_server.url(f"{folder.name}/{name}") for name in (*NAMES, *DISGUISED)}


NAMES = ("base.mpd", "segments.m3u8", "master.m3u8")
DISGUISED = ("base-disguised.mp4", "segments-disguised.mp4", "master-disguised.mp4")


@pytest.mark.parametrize("name", [*NAMES, *DISGUISED])
def test_worker_egress_manifest_protocol_tricks_connect_nowhere(emulator, queues, worker, tricks, listener, name):  # noqa: F811
    before = listener.connections
    task_id = submit(emulator, queues, "get_video", tricks[name], CLIP)
    task = wait_for_task(emulator, task_id, timeout=90, worker=worker)
    assert listener.connections == before, f"{name} made {listener.connections - before} connection(s) to the listener"
    assert task["status"] == "error"
    # yt-dlp itself joins a DASH BaseURL it does not take for absolute onto the manifest's URL (an http 404 then),
    # and has no handler for a tcp:// variant; every other case is the worker's refusal before ffmpeg connects.
    assert "Traceback" not in task["error"] and "SOCKS" not in task["error"]
    if name in DISGUISED or name == "segments.m3u8":
        assert "refusing" in task["error"], task["error"]
