"""Threaded loopback HTTP server that serves a media directory for tests and benchmarks."""

from __future__ import annotations

import mimetypes
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple

CHUNK_SIZE = 64 * 1024

CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mpd": "application/dash+xml",
    ".json": "application/json",
    ".vtt": "text/vtt",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RequestRecord(NamedTuple):
    """One request seen by the server: method, raw path (with query) and headers."""

    method: str
    path: str
    headers: dict[str, str]


class RangeNotSatisfiable(Exception):
    """Raised when a syntactically valid Range cannot be satisfied for the file size."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive (start, end) of a single byte range, or None to serve the whole file."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if not match:
        return None  # unknown unit, multiple ranges or bad syntax: RFC 9110 lets us ignore it
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range spec: ignored
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks open connections so stop() can cut them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], media: MediaServer) -> None:
        self.media = media
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Keep unexpected handler errors in media.errors instead of printing them."""
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
            self.media.errors.append(exc)

    def close_all_connections(self) -> None:
        """Shut down every client socket still open."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Request handler: static files with Range, redirects, throttling and a request log."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "MediaServer/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence the default per-request stderr log."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        media = self.server.media
        media._record(RequestRecord(self.command, self.path, dict(self.headers.items())))
        media._enter(self.path)
        try:
            self._serve_path(head)
        finally:
            media._leave(self.path)

    def _serve_path(self, head: bool) -> None:
        media = self.server.media
        url_path = urllib.parse.urlsplit(self.path).path

        failure = media._take_failure(url_path)
        if failure is not None:
            status, release = failure
            if release is not None:
                release.wait(60)
            self._send_simple(status, b"Failing on purpose\n", head=head)
            return

        redirect = media._redirects.get(url_path)
        if redirect is not None:
            location, status = redirect
            self._send_simple(status, b"", extra={"Location": location}, head=head)
            return

        file_path = media.resolve(url_path)
        if file_path is None:
            self._send_simple(HTTPStatus.NOT_FOUND, b"Not Found\n", head=head)
            return
        try:
            fh = open(file_path, "rb")  # noqa: SIM115 - closed in finally below
        except OSError:
            self._send_simple(HTTPStatus.NOT_FOUND, b"Not Found\n", head=head)
            return
        try:
            self._send_file(fh, file_path, url_path, head)
        finally:
            fh.close()

    def _send_file(self, fh: BinaryIO, file_path: Path, url_path: str, head: bool) -> None:
        size = os.fstat(fh.fileno()).st_size
        try:
            byte_range = parse_range(self.headers.get("Range"), size)
        except RangeNotSatisfiable:
            self._send_simple(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                b"Range Not Satisfiable\n",
                extra={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
                head=head,
            )
            return

        if byte_range is None:
            start, end, status = 0, size - 1, HTTPStatus.OK
        else:
            start, end = byte_range
            status = HTTPStatus.PARTIAL_CONTENT
        length = end - start + 1 if size else 0

        self.send_response(status)
        self.send_header("Content-Type", content_type(file_path))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", self.date_time_string(int(os.fstat(fh.fileno()).st_mtime)))
        if file_path.suffix.lower() == ".m3u8":
            self.send_header("Cache-Control", "no-cache")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head or length == 0:
            return

        fh.seek(start)
        rate = self.server.media.throttle_for(url_path)
        self._copy(fh, length, rate)

    def _copy(self, fh: BinaryIO, length: int, rate: int | None) -> None:
        """Stream `length` bytes from fh in chunks, optionally paced to `rate` bytes/s."""
        chunk_size = CHUNK_SIZE if not rate else max(1024, min(CHUNK_SIZE, rate // 20))
        started = time.monotonic()
        sent = 0
        try:
            while sent < length:
                data = fh.read(min(chunk_size, length - sent))
                if not data:
                    break  # file shrank underneath us; the client will see a short body
                self.wfile.write(data)
                sent += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
            return
        if sent < length:
            self.close_connection = True

    def _send_simple(
        self,
        status: int,
        body: bytes,
        extra: Mapping[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            try:
                self.wfile.write(body)
            except OSError:
                self.close_connection = True


def _folder(url_path: str) -> str:
    """'/hls/v240/seg_001.ts' -> '/hls/v240/' (the folder a request falls in; a folder stays itself)."""
    return url_path if url_path.endswith("/") else url_path.rsplit("/", 1)[0] + "/"


def content_type(path: Path) -> str:
    """Return the Content-Type to serve for a file name."""
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class MediaServer:
    """Loopback HTTP server over a directory: GET/HEAD, Range, redirects, throttling, request log."""

    def __init__(
        self,
        root_dir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        throttle_bytes_per_sec: int | Mapping[str, int] | None = None,
    ) -> None:
        self.root = Path(root_dir).resolve()
        self.host = host
        self.port = port
        self.requests: list[RequestRecord] = []
        self.errors: list[BaseException] = []
        self._redirects: dict[str, tuple[str, int]] = {}
        self._throttles: dict[str, int] = {}
        self._failures: dict[str, list[Any]] = {}  # URL path -> [requests left to fail, status, release event]
        self._in_flight: dict[str, int] = {}  # URL folder -> requests being answered now
        self._peak: dict[str, int] = {}  # URL folder -> most requests answered at once
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if isinstance(throttle_bytes_per_sec, Mapping):
            for prefix, rate in throttle_bytes_per_sec.items():
                self.set_throttle(rate, prefix)
        elif throttle_bytes_per_sec:
            self.set_throttle(throttle_bytes_per_sec)

    @property
    def base_url(self) -> str:
        """Return e.g. ``http://127.0.0.1:PORT`` (valid after start())."""
        if self._server is None:
            raise RuntimeError("MediaServer is not started")
        return f"http://{self.host}:{self.port}"

    def url(self, relpath: str | os.PathLike[str] = "") -> str:
        """Return the URL of a path relative to root_dir (absolute paths under root are accepted)."""
        rel = Path(relpath)
        if rel.is_absolute():
            rel = rel.resolve().relative_to(self.root)
        quoted = urllib.parse.quote(rel.as_posix().lstrip("/")) if str(relpath) else ""
        return f"{self.base_url}/{quoted}"

    def start(self) -> MediaServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"MediaServer:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open client connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer requests for `path` (URL path, e.g. '/a') with `status` and a Location header."""
        if not path.startswith("/"):
            path = "/" + path
        self._redirects[path] = (location, status)

    def fail_requests(self, path: str, count: int, status: int = 404, release: threading.Event | None = None) -> None:
        """Answer the next `count` requests for URL path `path` with `status`; with `release`, only once it is set
        (at most 60 s), so a test decides when the failure happens."""
        if not path.startswith("/"):
            path = "/" + path
        with self._lock:
            self._failures[path] = [count, status, release]

    def _take_failure(self, url_path: str) -> tuple[int, threading.Event | None] | None:
        with self._lock:
            failure = self._failures.get(url_path)
            if not failure or failure[0] <= 0:
                return None
            failure[0] -= 1
            return int(failure[1]), failure[2]

    def set_throttle(self, bytes_per_sec: int | None, prefix: str = "/") -> None:
        """Pace responses under URL path `prefix` to `bytes_per_sec` (None removes the limit)."""
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        with self._lock:
            if bytes_per_sec:
                self._throttles[prefix] = int(bytes_per_sec)
            else:
                self._throttles.pop(prefix, None)

    def throttle_for(self, url_path: str) -> int | None:
        """Return the rate limit of the longest matching throttle prefix, if any."""
        with self._lock:
            matches = [p for p in self._throttles if url_path.startswith(p)]
            return self._throttles[max(matches, key=len)] if matches else None

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()

    def peak_concurrency(self, prefix: str) -> int:
        """The most requests under `prefix` (a folder such as '/hls/v240/') that were being answered at once."""
        with self._lock:
            return self._peak.get(_folder(prefix), 0)

    def _enter(self, raw_path: str) -> None:
        folder = _folder(urllib.parse.urlsplit(raw_path).path)
        with self._lock:
            self._in_flight[folder] = self._in_flight.get(folder, 0) + 1
            self._peak[folder] = max(self._peak.get(folder, 0), self._in_flight[folder])

    def _leave(self, raw_path: str) -> None:
        folder = _folder(urllib.parse.urlsplit(raw_path).path)
        with self._lock:
            self._in_flight[folder] -= 1

    def requests_for(self, path: str) -> list[RequestRecord]:
        """Return logged requests whose path (without query) equals `path`."""
        with self._lock:
            return [r for r in self.requests if urllib.parse.urlsplit(r.path).path == path]

    def resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a regular file under root_dir, or None if absent or outside root."""
        rel = urllib.parse.unquote(url_path)
        if "\x00" in rel:
            return None
        candidate = (self.root / rel.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)
