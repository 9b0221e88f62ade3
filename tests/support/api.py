"""The API in-process for tests: a fake resolver (no lookup leaves the process), and a client with an admin key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.api.deps import Container
from shared.bootstrap import ensure_admin_key
from tests.support.stack import DeployedStack

PUBLIC_ADDRESS = "93.184.215.14"  # what the fake resolver answers for names it does not know


def fake_resolver(table: dict[str, list[str]] | None = None) -> Any:
    """A resolver that never leaves the process: known names map to the table, others to one public address."""
    table = {"localhost": ["127.0.0.1", "::1"], **(table or {})}

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if host.endswith(".invalid"):
            raise OSError("Name or service not known")
        return [host] if host.replace(".", "").isdigit() or ":" in host else [PUBLIC_ADDRESS]

    return resolve


@dataclass
class Api:
    client: TestClient
    container: Container
    admin_key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"X-API-Key": key or self.admin_key}

    def make_key(self, name: str, permissions: list[str]) -> str:
        r = self.client.post("/create_key", json={"name": name, "permissions": permissions}, headers=self.headers())
        assert r.status_code == 201, r.text
        return r.json()["key"]


def build_api(stack: DeployedStack, resolver: Any = None, *, clients: Any = None, admin_key: str | None = None, **changes: Any) -> Api:
    """The app over a deployed stack (settings changed by `changes`), with an admin key ensured."""
    stack = stack.with_settings(**changes) if changes else stack
    container = Container(stack.settings, clients=clients or stack.clients, resolver=resolver or fake_resolver())
    # The bootstrap goes through the stack's own clients: fault-injecting clients must not break the setup.
    keys = Container(stack.settings, clients=stack.clients).keys
    if admin_key:
        ensure_admin_key(keys, admin_key)
        admin = admin_key
    else:  # a generated key, or the one an earlier build in this test made
        admin = ensure_admin_key(keys, None) or keys.get("admin").key
    return Api(TestClient(create_app(container=container), raise_server_exceptions=False), container, admin)
