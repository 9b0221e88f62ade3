"""Self-checks of the test-media support code: HTTP server, generated media, yt-dlp/ffmpeg against them."""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import yt_dlp

from tests.support.fixtures import ServedLiveStream
from tests.support.http_server import MediaServer
from tests.support.media import FFMPEG, make_large_mp4, probe

pytestmark = pytest.mark.integration

YDL_QUIET = {"quiet": True, "no_warnings": True, "noprogress": True}


def _request(
    server: MediaServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request to the server; return status, lower-cased headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-500", -500, None), ("bytes=10-10", 10, 10)],
)
def test_range_request_returns_206_with_exact_bytes(
    media_server: MediaServer, media_dir: Path, range_header: str, start: int, end: int | None
) -> None:
    data = (media_dir / "video.mp4").read_bytes()
    size = len(data)
    expected = data[start:] if end is None else data[start:end + 1]
    first = start if start >= 0 else size + start
    status, headers, body = _request(media_server, "GET", "/video.mp4", {"Range": range_header})
    assert status == 206
    assert body == expected
    assert headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{size}"
    assert headers["content-length"] == str(len(expected))
    assert headers["accept-ranges"] == "bytes"


def test_full_get_and_unsatisfiable_range(media_server: MediaServer, media_dir: Path) -> None:
    size = (media_dir / "video.mp4").stat().st_size
    status, headers, body = _request(media_server, "GET", "/video.mp4")
    assert (status, len(body), headers["content-type"]) == (200, size, "video/mp4")
    status, headers, _ = _request(media_server, "GET", "/video.mp4", {"Range": f"bytes={size}-"})
    assert status == 416
    assert headers["content-range"] == f"bytes */{size}"


def test_head_and_content_types(media_server: MediaServer, media_dir: Path) -> None:
    status, headers, body = _request(media_server, "HEAD", "/video.mp4")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str((media_dir / "video.mp4").stat().st_size)
    assert _request(media_server, "HEAD", "/hls/master.m3u8")[1]["content-type"] == "application/vnd.apple.mpegurl"
    assert _request(media_server, "HEAD", "/hls/v240/seg_000.ts")[1]["content-type"] == "video/mp2t"
    assert _request(media_server, "HEAD", "/missing.mp4")[0] == 404


def test_path_traversal_is_refused(media_server: MediaServer, media_dir: Path) -> None:
    secret = media_dir.parent / "secret.txt"
    secret.write_text("outside the root")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/hls/../../secret.txt", "/hls/%2e%2e%2f%2e%2e%2fsecret.txt",
                 f"/{urllib.parse.quote(str(secret))}", "/hls", "/"):
        status, _, body = _request(media_server, "GET", path)
        assert status == 404, path
        assert b"outside" not in body


def test_redirect_request_log_and_throttle(media_server: MediaServer) -> None:
    media_server.add_redirect("/r1", "/r2", status=301)
    media_server.add_redirect("/r2", "/hls/master.m3u8")
    status, headers, _ = _request(media_server, "GET", "/r1")
    assert (status, headers["location"]) == (301, "/r2")

    media_server.set_throttle(200_000, "/hls/v360/")
    try:
        started = time.monotonic()
        status, _, body = _request(media_server, "GET", "/hls/v360/seg_000.ts", {"Range": "bytes=0-99999"})
        elapsed = time.monotonic() - started
    finally:
        media_server.set_throttle(None, "/hls/v360/")
    assert (status, len(body)) == (206, 100_000)
    assert 0.4 <= elapsed < 2
    logged = media_server.requests_for("/hls/v360/seg_000.ts")[-1]
    assert (logged.method, logged.headers["Range"]) == ("GET", "bytes=0-99999")


def test_ytdlp_sees_hls_ladder(media_urls: dict[str, str]) -> None:
    with yt_dlp.YoutubeDL(YDL_QUIET) as ydl:
        info = ydl.extract_info(media_urls["hls_master"], download=False)
    video = {f["height"]: f for f in info["formats"] if f.get("vcodec") != "none"}
    audio = [f for f in info["formats"] if f.get("vcodec") == "none"]
    assert set(video) == {240, 360}
    assert all(f["acodec"] == "none" and f["fps"] == 25 for f in video.values())
    assert len(audio) == 1
    assert info.get("is_live") is not True


def test_ytdlp_downloads_and_merges_240p(media_urls: dict[str, str], tmp_path: Path) -> None:
    opts = {**YDL_QUIET, "format": "bestvideo[height<=240]+bestaudio", "outtmpl": str(tmp_path / "%(id)s.%(ext)s")}
    with yt_dlp.YoutubeDL(opts) as ydl:
        info = ydl.extract_info(media_urls["hls_master"], download=True)
    out = Path(info["requested_downloads"][0]["filepath"])
    meta = probe(out)
    assert out.suffix == ".mp4"
    assert meta["video"]["height"] == 240
    assert meta["audio"] is not None and meta["audio"]["codec_name"] == "aac"
    assert meta["duration"] == pytest.approx(20, abs=0.5)


def test_ffmpeg_cuts_served_mp4_with_range_seek(media_server: MediaServer, media_urls: dict[str, str],
                                               tmp_path: Path) -> None:
    out = tmp_path / "cut.mp4"
    first = len(media_server.requests)
    subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-ss", "20", "-i", media_urls["mp4"], "-t", "10",
         "-c", "copy", str(out)],
        check=True, timeout=60,
    )
    assert probe(out)["duration"] == pytest.approx(10, abs=0.5)
    ranges = [r.headers.get("Range", "") for r in media_server.requests[first:] if r.path == "/video.mp4"]
    assert any(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in ranges), ranges


def test_make_large_mp4_is_valid_and_sized(tmp_path: Path) -> None:
    out = make_large_mp4(tmp_path / "large.mp4", megabytes=20)
    meta = probe(out)
    assert meta["size"] == pytest.approx(20_000_000, rel=0.15)
    assert meta["video"]["height"] == 720 and meta["audio"] is not None


def test_live_stream_is_live(live_stream: ServedLiveStream) -> None:
    with yt_dlp.YoutubeDL(YDL_QUIET) as ydl:
        info = ydl.extract_info(live_stream.url, download=False)
    assert info["is_live"] is True
    assert info["live_status"] == "is_live"
    assert live_stream.stream.segment_count() >= 3
