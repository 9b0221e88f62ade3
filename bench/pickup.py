"""Pickup latency: from POST to the task's status turning `processing`, with an idle worker (long-polling SQS)."""

from __future__ import annotations

import json
import time
from datetime import datetime

from bench.client import StatusPoller
from bench.harness import BenchStack, Context
from bench.stats import Figure

NAME = "pickup"
TITLE = "Pickup latency with an idle worker"
NEEDS_WORKER = True

TARGET_SECONDS = 0.2
POLL_INTERVAL = 0.01
IDLE_BEFORE = 0.5  # the worker is back in its long poll well before the next job arrives
FINISHED = frozenset({"completed", "error"})


def job_running_at(stack: BenchStack, task_id: str) -> float | None:
    """Epoch time of the worker's 'job running' line for the task (logged right after it marked it processing)."""
    for log in sorted(stack.process.log_dir.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if task_id in line and '"job running"' in line:
                stamp = json.loads(line)["time"]
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return None


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(10, 5)
    stack = ctx.stack(WORKER_PROCESSES="1")
    key = stack.new_key("pickup")
    api = stack.api(key)
    body = {"url": ctx.media.url("video.mp4"), "cache": False}  # never a shared result; get_info: the lightest job, so the worker is idle again soon
    poller = StatusPoller(api, key, POLL_INTERVAL)
    polled, logged, posted = [], [], []
    for n in range(repeats + 1):  # the first round is an untimed warm-up
        time.sleep(IDLE_BEFORE)
        wall, started = time.time(), time.perf_counter()
        reply = api.call("POST", "/get_info", body)
        if reply.status != 200:
            raise RuntimeError(f"POST /get_info answered {reply.status}: {reply.body}")
        answered = time.perf_counter() - started
        task_id = reply.body["task_id"]
        view, seen = poller.until(task_id, frozenset({"processing"}) | FINISHED, started)
        poller.until(task_id, FINISHED, started)
        if n == 0:
            continue
        posted.append(answered)
        polled.append(seen.get("processing", seen.get(view["status"], float("nan"))))
        running = job_running_at(stack, task_id)
        if running is not None:
            logged.append(running - wall)
    api.close()
    figure = Figure(NAME, "POST to 'processing' seen by polling", "s", polled, target=f"< {TARGET_SECONDS * 1000:.0f} ms", note=f"polled every {POLL_INTERVAL * 1000:.0f} ms")
    figure.met = figure.median < TARGET_SECONDS
    figures = [figure, Figure(NAME, "  POST answered", "s", posted)]
    if logged:
        figures.append(Figure(NAME, "  POST to worker's 'job running' log line", "s", logged, note="ms-resolution log clock"))
    return figures
