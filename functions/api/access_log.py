"""One JSON access line per request: method, route, status, time taken, task id and key name.

The route is logged as its template (`/files/{task_id}/{token}/{name}`), never the path as sent: file-link tokens,
mistyped keys pasted into a path and other callers' junk stay out of the logs.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable

from shared import logs

log = logging.getLogger("functions.api.access")

Scope = dict[str, Any]
Message = dict[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class AccessLog:
    """ASGI middleware writing the access line when the response has started (or the app failed)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logs.new_context()  # this request's log fields (task_id, key_name), bound as they become known
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            log.info("request", extra=access_fields(scope, status, time.perf_counter() - started))


def access_fields(scope: Scope, status: int, seconds: float) -> dict[str, Any]:
    """What the access line holds; nothing from the raw path or query."""
    route = scope.get("route")
    params = scope.get("path_params") or {}
    state = scope.get("state") or {}
    fields: dict[str, Any] = {
        "method": scope.get("method"),
        "route": getattr(route, "path", None) or "unmatched",
        "status": status,
        "ms": round(seconds * 1000, 1),
    }
    if isinstance(params.get("task_id"), str) and len(params["task_id"]) <= 64:
        fields["task_id"] = params["task_id"]
    for name in ("key_name", "task_id"):
        if state.get(name):
            fields[name] = state[name]
    return fields
