"""The single-machine stack under load, as issue 15 measures it: 8 clients on /status, 300 get_info submissions
while the workers run them, /health and /status with thousands of stored tasks, and what the backends use."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import original
from bench.client import ApiClient
from bench.harness import BenchStack, Context
from bench.procfs import children_map, cmdline, cpu_seconds, rss_bytes
from bench.stats import Figure, percentile
from shared.stores.tasks import TaskStore

NAME = "local_stack"
TITLE = "Local stack under load (8 clients): status, submissions with workers running, thousands of stored tasks"
NEEDS_WORKER = True

CLIENTS = 8


def _load(base_url: str, key: str, calls: list[tuple[str, str, Any]], clients: int = CLIENTS) -> tuple[list[float], int, float]:
    """Run `calls` (method, path, body) over `clients` threads; returns (latencies, non-2xx count, wall seconds)."""
    apis = [ApiClient(base_url, key) for _ in range(clients)]
    latencies: list[float] = []
    errors = 0

    def one(n: int) -> tuple[float, int]:
        method, path, body = calls[n]
        started = time.perf_counter()
        reply = apis[n % clients].call(method, path, body)
        return time.perf_counter() - started, reply.status

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for latency, status in pool.map(one, range(len(calls))):
            latencies.append(latency)
            errors += status >= 300
    wall = time.perf_counter() - started
    for api in apis:
        api.close()
    return latencies, errors, wall


def _backend_pids(stack: BenchStack) -> dict[str, int]:
    assert stack.process.process is not None
    root = stack.process.process.pid
    node = next((p for p in children_map().get(root, []) if "backends.js" in " ".join(cmdline(p))), None)
    return {"emulator (moto: SQS, KMS)": root, **({"backends (dynalite, s3rver)": node} if node else {})}


def _seed_tasks(stack: BenchStack, owner: str, count: int) -> None:
    """`count` finished tasks written straight into the task table (what thousands of past jobs leave)."""
    tasks = TaskStore(stack.clients.dynamodb, stack.settings.tasks_table)

    def one(_: int) -> None:
        task_id = uuid.uuid4().hex[:16]
        tasks.create(task_id, owner, "get_info", "http://127.0.0.1/seed", {})
        tasks.complete(task_id, "info.json", 3600)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def _api_figures(label: str, base_url: str, key: str, url: str, status_calls: int, submissions: int) -> list[Figure]:
    """Status under 8 clients, then submissions (8 clients, then 1) while the workers run them."""
    first = ApiClient(base_url, key).call("POST", "/get_info", {"url": url}).body["task_id"]
    lat, errors, wall = _load(base_url, key, [("GET", f"/status/{first}", None)] * status_calls)
    figures = [
        Figure(NAME, f"{label}GET /status throughput, 8 clients", "req/s", [len(lat) / wall], note=f"{errors} errors", detail={"errors": errors}),
        Figure(NAME, f"  {label}GET /status p50", "s", [percentile(lat, 50)], detail={"p95": percentile(lat, 95)}),
    ]
    lat, errors, wall = _load(base_url, key, [("POST", "/get_info", {"url": url})] * submissions)
    figures.append(Figure(NAME, f"{label}{submissions} get_info submissions while the workers run them: accepted", "req/s", [(len(lat) - errors) / wall], note=f"{errors} errors", detail={"errors": errors}))
    figures.append(Figure(NAME, f"  {label}same: p50", "s", [percentile(lat, 50)], detail={"p95": percentile(lat, 95), "errors": errors}))
    lat, errors, _ = _load(base_url, key, [("POST", "/get_info", {"url": url})] * 30, clients=1)
    figures.append(Figure(NAME, f"  {label}same, 1 client: p50", "s", [percentile(lat, 50)], note=f"{errors} errors"))
    return figures


def run(ctx: Context) -> list[Figure]:
    status_calls = ctx.repeats(2000, 600)
    submissions = ctx.repeats(300, 100)
    stored = ctx.repeats(3000, 1000)
    url = ctx.media.url("video.mp4")
    figures: list[Figure] = []
    source = original.checkout()
    if source is not None:
        server = original.Original(source, ctx.work_dir).start()
        try:
            figures.extend(_api_figures("original: ", server.base_url, original.KEY, url, status_calls, submissions))
        finally:
            server.stop()
    else:
        ctx.notes.append("local_stack: the original was not measured (set YTDLP_HOST_ORIGINAL to a checkout of Vasysik/yt-dlp-host)")

    stack = ctx.stack(fresh=True, WORKER_PROCESSES="2", REQUEST_LIMIT="100000")
    stack.wait_for_workers()
    key = stack.new_key("local-stack")
    pids = _backend_pids(stack)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    ours = _api_figures("", stack.base_url, key, url, status_calls, submissions)
    ours[3].target, ours[3].met = "< 100 ms, 0 errors", ours[3].median < 0.1 and ours[3].detail["errors"] == 0
    figures.extend(ours)

    first = ApiClient(stack.base_url, key).call("POST", "/get_info", {"url": url}).body["task_id"]
    idle_health, _, _ = _load(stack.base_url, key, [("GET", "/health", None)] * 200)
    _seed_tasks(stack, "seed-owner", stored)
    lat, errors, _ = _load(stack.base_url, key, [("GET", "/health", None)] * 200)
    figures.append(Figure(NAME, f"GET /health p50 with {stored:,} more stored tasks, vs before", "x", [percentile(lat, 50) / percentile(idle_health, 50)], target="within 2x", note=f"{percentile(lat, 50) * 1000:.1f} ms vs {percentile(idle_health, 50) * 1000:.1f} ms, {errors} errors"))
    figures[-1].met = figures[-1].median <= 2
    lat, errors, _ = _load(stack.base_url, key, [("GET", f"/status/{first}", None)] * 500)
    figures.append(Figure(NAME, f"  GET /status p50 with {stored:,} more stored tasks", "s", [percentile(lat, 50)], note=f"{errors} errors"))

    for name, pid in pids.items():
        figures.append(Figure(NAME, f"{name}: CPU during this benchmark", "s", [cpu_seconds(pid) - cpu_before[name]], note=f"RSS {rss_bytes(pid) / 1e6:.0f} MB at the end"))
    return figures
