"""The single-machine stack under load, as issue 15 measures it: 8 clients on /status, 300 get_info submissions
while the workers run them, /health, /status and submissions with 10,000 stored tasks and the workers saturated
against the idle stack (also issue 14's figure), and what the backends use. Every figure notes the load average:
the machine may be shared."""

from __future__ import annotations

import shutil
from pathlib import Path
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
SLOW_SECONDS = 240  # how long each saturating download takes (throttled): minutes of waiting, little CPU


def load_average() -> str:
    """The 1-minute load average now (other work on the machine shows here)."""
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


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
        Figure(NAME, f"{label}GET /status throughput, 8 clients", "req/s", [len(lat) / wall], note=f"{errors} errors, load {load_average()}", detail={"errors": errors}),
        Figure(NAME, f"  {label}GET /status p50", "s", [percentile(lat, 50)], detail={"p95": percentile(lat, 95)}),
    ]
    lat, errors, wall = _load(base_url, key, [("POST", "/get_info", {"url": url})] * submissions)
    load = load_average()
    figures.append(Figure(NAME, f"{label}{submissions} get_info submissions while the workers run them: accepted", "req/s", [(len(lat) - errors) / wall], note=f"{errors} errors, load {load}", detail={"errors": errors}))
    figures.append(Figure(NAME, f"  {label}same: p50", "s", [percentile(lat, 50)], note=f"load {load}", detail={"p95": percentile(lat, 95), "errors": errors}))
    lat, errors, _ = _load(base_url, key, [("POST", "/get_info", {"url": url})] * 30, clients=1)
    figures.append(Figure(NAME, f"  {label}same, 1 client: p50", "s", [percentile(lat, 50)], note=f"{errors} errors"))
    return figures


def _probe(base_url: str, key: str, task_id: str, url: str, calls: int) -> tuple[dict[str, tuple[float, int]], list[str]]:
    """p50 and errors of /health, /status and get_info submissions, 8 clients each (submissions last: they add
    jobs); and the ids of the tasks it submitted."""
    out = {}
    for name, call in (("health", ("GET", "/health", None)), ("status", ("GET", f"/status/{task_id}", None))):
        lat, errors, _ = _load(base_url, key, [call] * calls)
        out[name] = (percentile(lat, 50), errors)
    apis = [ApiClient(base_url, key) for _ in range(CLIENTS)]
    timed: list[tuple[float, int, str]] = []

    def submit(n: int) -> tuple[float, int, str]:
        started = time.perf_counter()
        reply = apis[n % CLIENTS].call("POST", "/get_info", {"url": url})
        return time.perf_counter() - started, reply.status, (reply.body or {}).get("task_id", "") if reply.status == 200 else ""

    with ThreadPoolExecutor(CLIENTS) as pool:
        timed = list(pool.map(submit, range(calls // 4)))
    for api in apis:
        api.close()
    out["submit"] = (percentile([t[0] for t in timed], 50), sum(t[1] >= 300 for t in timed))
    return out, [t[2] for t in timed if t[2]]


def _wait_until_drained(api: ApiClient, task_ids: list[str], timeout: float = 300) -> None:
    """Until none of `task_ids` is waiting or processing (the workers are idle again)."""
    deadline = time.monotonic() + timeout
    pending = list(task_ids)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if api.call("GET", f"/status/{t}").body.get("status") in ("waiting", "processing")]
        time.sleep(0.5)


def _saturate(ctx: Context, stack: BenchStack, key: str, slots: int) -> tuple[list[str], int]:
    """Fill every worker slot with a long, throttled download and queue as many again; returns (ids, running)."""
    slow = ctx.media.root / "slow"
    slow.mkdir(exist_ok=True)
    size = Path(shutil.copy(ctx.media.root / "video.mp4", slow / "video.mp4")).stat().st_size
    ctx.media.set_throttle(max(4096, size // SLOW_SECONDS), "/slow/")
    api = ApiClient(stack.base_url, key)
    ids = [api.call("POST", "/get_video", {"url": ctx.media.url("slow/video.mp4")}).body["task_id"] for _ in range(2 * slots)]
    deadline = time.monotonic() + 60
    running = 0
    while time.monotonic() < deadline:
        running = sum(api.call("GET", f"/status/{t}").body.get("status") == "processing" for t in ids)
        if running >= slots:
            break
        time.sleep(0.5)
    api.close()
    return ids, running


def run(ctx: Context) -> list[Figure]:
    status_calls = ctx.repeats(2000, 600)
    submissions = ctx.repeats(300, 100)
    stored = ctx.repeats(10_000, 2_000)
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
    rss_before = {name: rss_bytes(pid) for name, pid in pids.items()}
    ours = _api_figures("", stack.base_url, key, url, status_calls, submissions)
    ours[3].target, ours[3].met = "< 100 ms, 0 errors", ours[3].median < 0.1 and ours[3].detail["errors"] == 0
    if figures:  # the original's figures came first, in the same order
        throughput, p50 = ours[0].median / figures[0].median, ours[1].median / figures[1].median
        ours[0].target, ours[0].met, ours[0].note = "at least half the original's", throughput >= 0.5, f"{ours[0].note}; {throughput:.2f}x the original's"
        ours[1].target, ours[1].met, ours[1].note = "at most 2x the original's", p50 <= 2, f"{p50:.2f}x the original's"
    figures.extend(ours)

    # Idle (the workers have finished the submissions above) against 10,000 more stored tasks with every worker
    # slot running a long download and as many jobs queued behind them.
    api = ApiClient(stack.base_url, key)
    first = api.call("POST", "/get_info", {"url": url}).body["task_id"]
    _wait_until_drained(api, [first])
    probe_calls = ctx.repeats(400, 200)
    idle, submitted = _probe(stack.base_url, key, first, url, probe_calls)
    idle_load = load_average()
    _wait_until_drained(api, submitted, timeout=600)  # the saturating downloads must not queue behind these
    _seed_tasks(stack, "seed-owner", stored)
    slots = int(stack.env.get("WORKER_PROCESSES", "1")) * int(stack.env.get("MAX_WORKERS", "4"))
    _, running = _saturate(ctx, stack, key, slots)
    busy, _ = _probe(stack.base_url, key, first, url, probe_calls)
    busy_load = load_average()
    api.close()
    for name, label in (("health", "GET /health"), ("status", "GET /status"), ("submit", "get_info submission")):
        ratio = busy[name][0] / idle[name][0]
        figures.append(
            Figure(
                NAME, f"{label} p50, {stored:,} stored tasks and saturated workers vs idle", "x", [ratio], target="within 2x", met=ratio <= 2,
                note=f"{busy[name][0] * 1000:.1f} vs {idle[name][0] * 1000:.1f} ms, {busy[name][1] + idle[name][1]} errors, {running}/{slots} slots busy, load {busy_load} vs {idle_load}",
                detail={"busy_p50": busy[name][0], "idle_p50": idle[name][0], "running": running, "slots": slots},
            )
        )

    for name, pid in pids.items():
        figures.append(Figure(NAME, f"{name}: CPU during this benchmark", "s", [cpu_seconds(pid) - cpu_before[name]], note=f"RSS {rss_before[name] / 1e6:.0f} MB at the start, {rss_bytes(pid) / 1e6:.0f} MB at the end"))
    return figures
