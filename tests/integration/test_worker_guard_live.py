"""A live recording through the SSRF guard, in-process: yt-dlp's own requests are checked by the guarded
getaddrinfo, ffmpeg's through the guarded proxy. Names resolve through a fake table (media.test -> 127.0.0.1,
which this test declares public); ffmpeg cannot resolve media.test itself, so a recording proves the proxy."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from functions.worker.egress.guard import AddressGuard
from functions.worker.download.progress import ProgressReporter
from functions.worker.egress.proxy import GuardedProxy
from functions.worker.download.runner import YtdlpLogger, fetch
from functions.worker.settings import WorkerSettings
from tests.support.media import probe
from tests.support.worker import FakeResolver, loopback_is_public

pytestmark = pytest.mark.integration


def test_worker_live_recording_goes_through_the_guard(live_stream, media_server, tmp_path):
    guard = AddressGuard(resolve=FakeResolver({"media.test": ["127.0.0.1"]}), is_allowed=loopback_is_public)
    url = live_stream.url.replace("127.0.0.1", "media.test")
    live_stream.stream.wait_for_segments(5, timeout=15)
    task = {"task_id": "abcdefghijklmnop", "task_type": "get_live_video", "url": url, "params": {"start": 3, "duration": 4}}
    reporter = ProgressReporter(lambda progress: None)
    with guard, GuardedProxy(guard, connect_timeout=5, idle_timeout=20) as proxy, mock.patch.dict(os.environ):
        path = fetch(task, tmp_path / "job", WorkerSettings(socket_timeout=5), reporter, YtdlpLogger(), proxy)
    reporter.close()
    assert path.name == "video.mp4"
    info = probe(path)
    assert 3.5 <= info["duration"] <= 5.0 and info["video"]["height"] == 240
    assert guard.refusals == []
