"""The embedded AWS emulator (moto) as the local stack and the tests use it.

DynamoDB's single-item conditional writes are atomic; moto's are not when requests arrive on several threads
(it reads, checks and writes without a lock), which would let two racing requests both pass a condition. The
rate limit and the task leases rely on that atomicity, so the emulator serializes DynamoDB requests here.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from infra.state import StateError, load_json, write_atomic

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


class KmsKeyVault:
    """Keeps the emulated KMS keys' material in STATE_DIR (mode 0600), so that stored ciphertexts decrypt after a restart.

    moto keeps KMS in memory and makes new key material for every key it creates. The first start records the key
    the stack deployed; every later start puts that key (same id, ARN and material) back into the in-process moto,
    so the API keys stay KMS-encrypted on disk, as in AWS, and still decrypt.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def restore_or_record(self, key_arn: str, account_id: str, region: str) -> str:
        """Make `key_arn` (just deployed) the persisted key; returns the ARN to use (the persisted one)."""
        from moto.kms.models import kms_backends

        backend = kms_backends[account_id][region]
        key = backend.keys[key_arn.rsplit("/", 1)[-1]]
        if not self.path.exists():
            record = {"id": key.id, "arn": key.arn, "material": base64.b64encode(key.key_material).decode()}
            write_atomic(self.path, json.dumps(record).encode(), mode=0o600)
            return key.arn
        saved = load_json(self.path)
        try:
            saved_id, saved_arn, material = saved["id"], saved["arn"], base64.b64decode(saved["material"], validate=True)
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"{self.path} is unreadable (bad KMS key record); restore STATE_DIR from a backup") from err
        del backend.keys[key.id]
        key.id, key.arn, key.key_material = saved_id, saved_arn, material
        backend.keys[saved_id] = key
        return saved_arn
