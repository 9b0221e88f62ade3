"""Upstream proxies (PROXY_URLS) from outside: a worker process whose media must pass through loopback forward
proxies (HTTP CONNECT and SOCKS5, with credentials); a proxy that answers 403 to everything is passed over at once;
the credentials appear in no log line and no task record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.proxies import ForwardProxy
from tests.support.worker import emulator, get_task, make_queues, start_worker, submit, wait_for_task  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRETS = ("alice", "pa55word", "bob", "hunter2")


def assert_no_credentials(*texts: Any) -> None:
    for text in texts:
        dumped = text if isinstance(text, str) else json.dumps(text, default=str)
        for secret in SECRETS:
            assert secret not in dumped


def test_worker_media_bytes_pass_through_the_configured_proxy(emulator, start_worker, media_urls, media_dir):  # noqa: F811
    with ForwardProxy("http", username="alice", password="pa55word") as proxy:
        queues = make_queues(emulator)
        worker = start_worker(queues, proxy_urls=proxy.url())
        task_id = submit(emulator, queues, "get_video", media_urls["mp4"])
        task = wait_for_task(emulator, task_id, timeout=90, worker=worker)
        assert task["status"] == "completed", task.get("error")
        assert proxy.auth_failures == 0 and proxy.tunnels
        assert proxy.bytes_to_client >= (media_dir / "video.mp4").stat().st_size
        assert_no_credentials(worker.logs(), task, get_task(emulator, task_id))


def test_worker_moves_on_from_a_proxy_that_answers_403_to_the_next_one(emulator, start_worker, media_urls, media_dir):  # noqa: F811
    with ForwardProxy("http", username="alice", password="pa55word", deny_status=403) as blocked, ForwardProxy("socks5", username="bob", password="hunter2") as good:
        queues = make_queues(emulator)
        worker = start_worker(queues, proxy_urls=f"{blocked.url()},{good.url()}")
        task_id = submit(emulator, queues, "get_video", media_urls["mp4"])
        task = wait_for_task(emulator, task_id, timeout=90, worker=worker)
        assert task["status"] == "completed", task.get("error")
        assert task["attempts"] == 1  # moved on within the attempt, not after a retry
        assert blocked.connections >= 1 and blocked.tunnels == []
        assert good.bytes_to_client >= (media_dir / "video.mp4").stat().st_size
        assert_no_credentials(worker.logs(), task)


def test_worker_reports_a_failing_proxy_readably_without_credentials(emulator, start_worker, media_urls):  # noqa: F811
    with ForwardProxy("http", username="alice", password="pa55word", deny_status=403) as blocked:
        queues = make_queues(emulator, max_receive=1)
        worker = start_worker(queues, proxy_urls=blocked.url(), max_attempts=1)
        task_id = submit(emulator, queues, "get_video", media_urls["mp4"])
        task = wait_for_task(emulator, task_id, timeout=90, worker=worker)
        assert task["status"] == "error"
        assert f"127.0.0.1:{blocked.port}" in task["error"] and "403" in task["error"]
        assert_no_credentials(worker.logs(), task)
