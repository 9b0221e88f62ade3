"""Exact requests to an ASGI app: the raw target, headers and body chunks as a server would deliver them.

An HTTP client normalises what these tests need to send unchanged (dot segments, percent-encoding, Content-Length,
header values), so the scope is built here the way uvicorn builds it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raised: BaseException | None = field(default=None, repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


def asgi_request(
    app: Any,
    method: str,
    target: bytes | str,
    headers: list[tuple[bytes | str, bytes | str]] | dict[str, str] | None = None,
    body: bytes | list[bytes] = b"",
) -> RawResponse:
    """Send one request; `target` is the request line's path and query as raw bytes; a list body arrives in chunks."""
    raw = target.encode("latin-1") if isinstance(target, str) else target
    raw_path, _, query = raw.partition(b"?")
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    encoded = [(_bytes(k).lower(), _bytes(v)) for k, v in pairs]
    chunks = body if isinstance(body, list) else [body]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        # As uvicorn does: the path is percent-decoded (invalid UTF-8 becomes U+FFFD), raw_path is kept as sent.
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": encoded,
        "server": ("127.0.0.1", 5000),
        "client": ("127.0.0.1", 40000),
    }
    return asyncio.run(_call(app, scope, chunks))


async def _call(app: Any, scope: dict[str, Any], chunks: list[bytes]) -> RawResponse:
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    status = 0
    headers: dict[str, str] = {}
    body = b""

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers, body
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    raised: BaseException | None = None
    try:
        await app(scope, receive, send)
    except Exception as err:  # what a server would log after sending its 500
        raised = err
    return RawResponse(status or 500, headers, body, raised)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")
