"""Worker throughput: 20 clip jobs at once with MAX_WORKERS=4, on one worker process and on two; jobs per minute
and the scaling ratio. Both stacks run side by side and take turns, so machine noise hits both alike.
"""

from __future__ import annotations

import os
import time

from bench.harness import BenchStack, Context, clip_body
from bench.procfs import cpu_busy, cpu_times
from bench.stats import Figure, ratio_samples

NAME = "worker_throughput"
TITLE = "Worker throughput: 20 clip jobs, 1 vs 2 worker processes (MAX_WORKERS=4)"
NEEDS_WORKER = True

JOBS = 20
POLL_INTERVAL = 0.1
FINISHED = frozenset({"completed", "error"})


def batch(stack: BenchStack, key: str, url: str, timeout: float = 600) -> tuple[float, int, float, dict[str, float]]:
    """Submit JOBS clips back to back and wait for all; returns (seconds from first POST to last finish, failures,
    share of the machine's cores busy meanwhile, CPU seconds per job by part of the stack)."""
    api = stack.api(key)
    cpu_before, parts_before = cpu_times(), stack.cpu_by_part()
    started = time.perf_counter()
    pending = []
    for _ in range(JOBS):
        reply = api.call("POST", "/get_video", clip_body(url))
        if reply.status != 200:
            raise RuntimeError(f"POST /get_video answered {reply.status}: {reply.body}")
        pending.append(reply.body["task_id"])
    # One status request per tick, oldest unfinished task first: polling every task each tick would itself load the
    # API and the emulator on the cores the workers need.
    failures = 0
    deadline = started + timeout
    for task_id in pending:
        while (status := api.call("GET", f"/status/{task_id}").body["status"]) not in FINISHED:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"jobs unfinished after {timeout}s")
            time.sleep(POLL_INTERVAL)
        failures += status != "completed"
    elapsed = time.perf_counter() - started
    busy = cpu_busy(cpu_before, cpu_times())
    per_job = {part: (used - parts_before[part]) / JOBS for part, used in stack.cpu_by_part().items()}
    api.close()
    return elapsed, failures, busy, per_job


def run(ctx: Context) -> list[Figure]:
    rounds = ctx.repeats(3, 1)
    url = ctx.media.url("video.mp4")
    stacks = ctx.stacks([{"WORKER_PROCESSES": "1"}, {"WORKER_PROCESSES": "2"}])
    keys = [stack.new_key("throughput") for stack in stacks]
    for stack in stacks:  # every worker process has started its forkserver and long-polls before the first round
        stack.wait_for_workers()
    rates: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    per_job: dict[str, list[float]] = {}
    failures = {1: 0, 2: 0}
    for _ in range(rounds):
        for processes, stack, key in zip((1, 2), stacks, keys):
            seconds, failed, cpu, parts = batch(stack, key, url)
            rates[processes].append(JOBS / seconds * 60)
            busy[processes].append(cpu * 100)
            failures[processes] += failed
            if processes == 1:
                for part, used in parts.items():
                    per_job.setdefault(part, []).append(used)
            time.sleep(1)
    scaling = Figure(NAME, "scaling: 2 processes / 1 process", "x", ratio_samples(rates[2], rates[1]), note=f"{usable_cores()} cores on this machine")
    return [
        Figure(NAME, "1 worker process", "jobs/min", rates[1], note=f"{failures[1]} failed", target="0 failed", met=failures[1] == 0),
        Figure(NAME, "  machine CPU busy meanwhile", "%", busy[1]),
        Figure(NAME, "2 worker processes", "jobs/min", rates[2], note=f"{failures[2]} failed", target="0 failed", met=failures[2] == 0),
        Figure(NAME, "  machine CPU busy meanwhile", "%", busy[2]),
        scaling,
        *[Figure(NAME, f"  CPU per job, {part} (1 process)", "s", used) for part, used in per_job.items()],
    ]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
