"""The local stack keeps its state in STATE_DIR: what `make run` had before a stop or a crash is there after the start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import ADMIN_KEY, Client
from tests.support.stack import ROOT, LocalStackProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def make_stack(state_dir: Path, log_dir: Path, workers: int = 1) -> LocalStackProcess:
    return LocalStackProcess(
        env_overrides={
            "STATE_DIR": str(state_dir),
            "ADMIN_API_KEY": ADMIN_KEY,
            "ALLOW_PRIVATE_NETWORKS": "true",
            "WORKER_PROCESSES": str(workers),
            "SCRATCH_DIR": str(log_dir / "scratch"),
        },
        log_dir=log_dir,
    )


@pytest.fixture
def stacks(state_dir: Path, tmp_path: Path) -> Iterator[list[LocalStackProcess]]:
    """Stacks started by a test on one STATE_DIR, one after the other; whatever still runs is stopped at the end."""
    started: list[LocalStackProcess] = []
    yield started
    for stack in started:
        stack.stop()


def start(stacks: list[LocalStackProcess], state_dir: Path, tmp_path: Path, workers: int = 1) -> tuple[LocalStackProcess, Client]:
    stack = make_stack(state_dir, tmp_path / f"logs-{len(stacks) + 1}", workers)
    stacks.append(stack)
    stack.start()
    return stack, Client(stack.base_url, ADMIN_KEY)


def test_stop_and_start_keeps_keys_tasks_and_files(stacks, state_dir, tmp_path, media_urls):
    # GIVEN a key and a completed task with its file
    stack, client = start(stacks, state_dir, tmp_path)
    key = client.new_key(["get_info"])
    name = next(n for n, k in client.call("GET", "/get_keys")[2].items() if k["key"] == key)
    task_id = client.submit("get_info", {"url": media_urls["mp4"]}, key)
    task = client.wait(task_id, key)
    assert task["status"] == "completed", task
    _, _, info_before = client.call("GET", task["file"], key=key)

    # WHEN the stack stops with SIGTERM and starts again on the same STATE_DIR
    assert stack.stop() == 0
    _, client = start(stacks, state_dir, tmp_path)

    # THEN the key authenticates, get_key returns the same value, the task and its file are there
    status, _, body = client.call("GET", f"/get_key/{name}")
    assert status == 200 and body["key"] == key, body
    status, _, after = client.call("GET", f"/status/{task_id}", key=key)
    assert status == 200 and after["status"] == "completed" and after["file"] == task["file"], after
    status, _, info_after = client.call("GET", task["file"], key=key)
    assert status == 200 and info_after == info_before


def test_task_waiting_at_stop_runs_once_after_start(stacks, state_dir, tmp_path, media_urls):
    # GIVEN a task submitted while no worker runs
    stack, client = start(stacks, state_dir, tmp_path, workers=0)
    key = client.new_key(["get_info"])
    task_id = client.submit("get_info", {"url": media_urls["mp4"]}, key)
    assert stack.stop() == 0

    # WHEN the stack starts again with a worker
    stack, client = start(stacks, state_dir, tmp_path, workers=1)

    # THEN the task completes, and it ran once
    task = client.wait(task_id, key)
    assert task["status"] == "completed", task
    assert task["attempts"] == 1, task
    worker_log = (stack.log_dir / "worker-1.log").read_text(errors="replace")
    assert sum(1 for line in worker_log.splitlines() if task_id in line and "job running" in line) == 1


def test_sigkill_loses_nothing_acknowledged(stacks, state_dir, tmp_path, media_urls):
    # GIVEN a key and a finished task, acknowledged 2 s before the crash
    stack, client = start(stacks, state_dir, tmp_path)
    key = client.new_key(["get_info"])
    task_id = client.submit("get_info", {"url": media_urls["mp4"]}, key)
    task = client.wait(task_id, key)
    time.sleep(2)

    # WHEN every process of the stack is killed with SIGKILL, then the stack starts again
    stack.kill()
    _, client = start(stacks, state_dir, tmp_path)

    # THEN the key works and the task and its file are there
    status, _, after = client.call("GET", f"/status/{task_id}", key=key)
    assert status == 200 and after["status"] == "completed", after
    status, _, _ = client.call("GET", task["file"], key=key)
    assert status == 200


@pytest.mark.parametrize("damage", ["garbage FORMAT", "files without FORMAT"])
def test_unreadable_state_stops_the_start_with_a_clear_message(tmp_path, damage):
    # GIVEN a STATE_DIR that this release cannot read
    state = tmp_path / "state"
    state.mkdir()
    (state / "FORMAT").write_text("not a number") if damage == "garbage FORMAT" else (state / "stray").write_text("x")
    before = sorted(p.name for p in state.iterdir())

    # WHEN the stack starts on it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(STATE_DIR=str(state), LOCAL_LOG_DIR=str(tmp_path / "logs"), PORT="1", WORKER_PROCESSES="0")
    done = subprocess.run([sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    # THEN it stops with a message naming the state and what to do, without a traceback, and the state is untouched
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "cannot start" in output and str(state) in output, output
    assert "Traceback" not in output
    assert sorted(p.name for p in state.iterdir()) == before
