"""The whole local stack, started as `make run` starts it, shared by the end-to-end tests."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.media import probe
from tests.support.stack import LocalStackProcess, request

ADMIN_KEY = "e2e-admin-key-0123456789abcdefghijklmnop"
REQUEST_LIMIT = 8


class Client:
    """A raw-HTTP client of the running stack."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key
        self._names = itertools.count(1)

    def call(self, method: str, path: str, body: Any = None, key: str | None = None, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        return request(method, self.base_url + path, key=key or self.key, body=body, **kwargs)

    def new_key(self, permissions: list[str] | None = None) -> str:
        name = f"user-{time.monotonic_ns()}-{next(self._names)}"
        perms = permissions or ["get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"]
        status, _, body = self.call("POST", "/create_key", {"name": name, "permissions": perms})
        assert status == 201, body
        return body["key"]

    def submit(self, endpoint: str, body: dict[str, Any], key: str) -> str:
        status, _, answer = self.call("POST", f"/{endpoint}", body, key=key)
        # A request matching a shared result is completed at once (README: Shared results).
        assert status == 200 and answer["status"] == ("completed" if answer.get("cached") else "waiting"), answer
        return answer["task_id"]

    def wait(self, task_id: str, key: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, task = self.call("GET", f"/status/{task_id}", key=key)
            assert status == 200, task
            if task["status"] in ("completed", "error"):
                return task
            time.sleep(0.2)
        raise AssertionError(f"task {task_id} still {task['status']} after {timeout}s: {task}")

    def download(self, file_path: str, key: str, dest: Path) -> Path:
        """Follow /files to the presigned link and save the bytes."""
        status, headers, _ = self.call("GET", file_path, key=key, follow=False)
        assert status == 307, (status, headers)
        status, _, payload = request("GET", headers["location"])
        assert status == 200
        dest.write_bytes(payload)
        return dest

    def probe_result(self, task: dict[str, Any], key: str, tmp_path: Path) -> dict[str, Any]:
        assert task["status"] == "completed", task
        path = self.download(task["file"], key, tmp_path / task["file"].rsplit("/", 1)[1])
        return probe(path)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(
        env_overrides={
            "ADMIN_API_KEY": ADMIN_KEY,
            "ALLOW_PRIVATE_NETWORKS": "true",
            "REQUEST_LIMIT": str(REQUEST_LIMIT),
            "TASK_CLEANUP_TIME": "10",
            "MAX_WORKERS": "4",
            "WORKER_PROCESSES": "1",
            "WEBHOOK_RETRY_DELAYS": "1,1,1",  # retries in seconds, not minutes (tests/e2e/test_webhooks.py)
            "SCRATCH_DIR": str(tmp_path_factory.mktemp("scratch")),
            "STATE_DIR": str(tmp_path_factory.mktemp("state")),
        },
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def client(stack: LocalStackProcess) -> Client:
    return Client(stack.base_url, ADMIN_KEY)
