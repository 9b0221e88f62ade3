"""The embedded AWS emulator (moto) as the local stack and the tests use it.

DynamoDB's single-item conditional writes are atomic; moto's are not when requests arrive on several threads
(it reads, checks and writes without a lock), which would let two racing requests both pass a condition. The
rate limit and the task leases rely on that atomicity, so the emulator serializes DynamoDB requests here.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_patched = False


def make_dynamodb_atomic() -> None:
    """Serialize moto's DynamoDB request handling, as the real service's per-item atomicity requires."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True


def start_emulator(port: int = 0, host: str = "127.0.0.1") -> tuple[Any, str]:
    """Start moto's server in this process; returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    actual_port = server._server.server_port if port == 0 else port  # noqa: SLF001 (moto exposes no getter)
    return server, f"http://{host}:{actual_port}"
