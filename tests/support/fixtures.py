"""Pytest plugin with shared media fixtures; load with ``pytest_plugins = ["tests.support.fixtures"]``."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.http_server import MediaServer
from tests.support.media import LiveStream, make_dash_vod, make_hls_vod, make_large_mp4, make_mp4, make_webm

MP4_NAME = "video.mp4"
HLS_MASTER = "hls/master.m3u8"
LARGE_MP4_NAME = "large.mp4"
DASH_MANIFEST = "dash/manifest.mpd"
WEBM_NAME = "vp9-opus.webm"


@dataclass
class ServedLiveStream:
    """A running LiveStream together with the URL of its playlist on the media server."""

    url: str
    stream: LiveStream

    @property
    def dir(self) -> Path:
        """Directory ffmpeg writes the playlist and segments into."""
        return self.stream.dir

    @property
    def playlist_path(self) -> Path:
        """Local path of the live playlist."""
        return self.stream.playlist_path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session directory with a 60 s `video.mp4` and a 20 s HLS VOD at `hls/master.m3u8`."""
    root = tmp_path_factory.mktemp("media")
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(make_mp4, root / MP4_NAME, 60),
            pool.submit(make_hls_vod, root / Path(HLS_MASTER).parent, 20),
        ]
        for job in jobs:
            job.result()
    return root


@pytest.fixture(scope="session")
def media_server(media_dir: Path) -> Iterator[MediaServer]:
    """Loopback MediaServer over media_dir for the whole session."""
    with MediaServer(media_dir) as server:
        yield server


@pytest.fixture(scope="session")
def media_urls(media_server: MediaServer) -> dict[str, str]:
    """URLs of the session media: `mp4` and `hls_master`."""
    return {"mp4": media_server.url(MP4_NAME), "hls_master": media_server.url(HLS_MASTER)}


@pytest.fixture(scope="session")
def large_mp4(media_dir: Path) -> Path:
    """A ~300 MB mp4 in media_dir (served as /large.mp4), made only when a test asks for it."""
    return make_large_mp4(media_dir / LARGE_MP4_NAME, megabytes=300)


@pytest.fixture(scope="session")
def youtube_like_urls(media_dir: Path, media_server: MediaServer) -> dict[str, str]:
    """What YouTube serves, made once: `dash` (VP9 240p+144p, H.264, AV1 where ffmpeg can, Opus, AAC; 8 s)
    and `webm` (a progressive VP9/Opus file, 4 s)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(make_dash_vod, media_dir / Path(DASH_MANIFEST).parent, 8),
            pool.submit(make_webm, media_dir / WEBM_NAME, 4),
        ]
        for job in jobs:
            job.result()
    return {"dash": media_server.url(DASH_MANIFEST), "webm": media_server.url(WEBM_NAME)}


@pytest.fixture
def live_stream(media_dir: Path, media_server: MediaServer) -> Iterator[ServedLiveStream]:
    """A live HLS stream (1 s segments, >= 3 published) served by media_server; stopped afterwards."""
    live_dir = media_dir / f"live-{uuid.uuid4().hex[:8]}"
    stream = LiveStream(live_dir)
    with stream:
        yield ServedLiveStream(url=media_server.url(f"{live_dir.name}/{stream.playlist_path.name}"), stream=stream)
    shutil.rmtree(live_dir, ignore_errors=True)
