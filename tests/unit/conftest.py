"""API fixtures: the app on moto in-process, an admin key, and helpers to make keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest
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


@pytest.fixture
def make_api(aws: DeployedStack) -> Iterator[Any]:
    """Build an API over the deployed emulator with settings changes; yields a factory."""

    def build(resolver: Any = None, **changes: Any) -> Api:
        stack = aws.with_settings(**changes) if changes else aws
        container = Container(stack.settings, clients=stack.clients, resolver=resolver or fake_resolver())
        admin = ensure_admin_key(container.keys, None)
        if admin is None:  # already made by an earlier build in this test
            admin = container.keys.get("admin").key
        return Api(TestClient(create_app(container=container), raise_server_exceptions=False), container, admin)

    yield build


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api()
