"""A small keep-alive HTTP client for the API and the presigned links (one connection per thread, loopback only)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Reused connections the server closed while idle fail on the next request; those are retried once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class ApiClient:
    """Calls the API over kept-alive connections, so tight polling measures the API rather than TCP setup."""

    def __init__(self, base_url: str, key: str | None = None, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"benchmarks talk to loopback only, not {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.key = key
        self.timeout = timeout
        self._local = threading.local()

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Response:
        """One request; redirects are returned, not followed."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-API-Key": key or self.key or ""}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn, fresh = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                reply = conn.getresponse()
                payload = reply.read()
                break
            except _STALE:
                self._drop()
                if fresh or attempt == 2:
                    raise
        reply_headers = dict(reply.getheaders())
        if reply.getheader("Connection", "").lower() == "close":
            self._drop()
        content_type = reply.getheader("Content-Type", "")
        return Response(reply.status, reply_headers, json.loads(payload) if content_type.startswith("application/json") else payload)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, False
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        return conn, True

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        self._drop()


def download(url: str, dest: Path, timeout: float = 120) -> int:
    """GET a presigned link into `dest`; returns the byte count (raises unless 200)."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"benchmarks talk to loopback only, not {url}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        reply = conn.getresponse()
        if reply.status != 200:
            raise RuntimeError(f"download of {parts.path} answered {reply.status}: {reply.read()[:200]!r}")
        size = 0
        with open(dest, "wb") as out:
            while chunk := reply.read(1 << 20):
                out.write(chunk)
                size += len(chunk)
        return size
    finally:
        conn.close()


class StatusPoller:
    """Polls /status/<id> at a fixed interval, remembering when each status and progress stage was first seen."""

    def __init__(self, api: ApiClient, key: str, interval: float) -> None:
        self.api = api
        self.key = key
        self.interval = interval

    def until(self, task_id: str, statuses: frozenset[str], started: float, timeout: float = 300) -> tuple[dict[str, Any], dict[str, float]]:
        """Poll until the task's status is one of `statuses`; returns (last view, first-seen times relative to `started`)."""
        seen: dict[str, float] = {}
        deadline = time.perf_counter() + timeout
        while True:
            reply = self.api.call("GET", f"/status/{task_id}", key=self.key)
            now = time.perf_counter() - started
            if reply.status != 200:
                raise RuntimeError(f"/status/{task_id} answered {reply.status}: {reply.body}")
            view = reply.body
            seen.setdefault(view["status"], now)
            stage = (view.get("progress") or {}).get("stage")
            if stage:
                seen.setdefault(f"stage:{stage}", now)
            if view["status"] in statuses:
                return view, seen
            if time.perf_counter() > deadline:
                raise TimeoutError(f"task {task_id} still {view['status']} after {timeout}s")
            time.sleep(self.interval)
