"""A loopback webhook receiver for tests and benchmarks: records every POST, answers from a per-path plan.

`plan("/flaky", 500, 500, 200)` makes /flaky answer 500 twice and then 200 (the last code repeats); a 3xx answer
carries a Location to /redirected, so a client that followed it would show up there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.time()

    def verify(self, secret: str) -> Any:
        """The parsed body, if the signature checks out with `secret` (standardwebhooks raises otherwise)."""
        return standardwebhooks.Webhook(secret).verify(self.body, self.headers)


class WebhookReceiver:
    """ThreadingHTTPServer on 127.0.0.1; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, list[int]] = {}
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                code = receiver._record(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/redirected")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path: str, *codes: int) -> str:
        """Answer `path` with these codes in turn (the last one repeats); returns its URL."""
        with self._lock:
            self._plans[path] = list(codes)
        return self.url(path)

    def _record(self, delivery: Delivery) -> int:
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()
            plan = self._plans.get(delivery.path.split("?", 1)[0], [200])
            return plan.pop(0) if len(plan) > 1 else plan[0]

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if path is None or d.path.split("?", 1)[0] == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 60) -> list[Delivery]:
        """Block until `path` got `count` deliveries; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                got = [d for d in self._deliveries if d.path.split("?", 1)[0] == path]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path}: {len(got)} deliveries after {timeout}s, expected {count}")
                self._arrived.wait(remaining)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
