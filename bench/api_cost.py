"""API cost as stored work grows: submission and status latency (p50, p99) and throughput with 8 concurrent clients,
with 100 and with 10,000 tasks (and 1,000 keys) already stored. No worker runs, so submissions just queue.

Stored work is seeded straight into the emulator's tables, shaped like TaskStore.create() and KeyStore.create() write
it. Each round's submissions are undone afterwards (tasks, queued jobs, rate-limit slots), so every round starts from
the same state. Both levels run side by side and take turns, and their ratios pair rounds.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.client import ApiClient
from bench.harness import USER_PERMISSIONS, BenchStack, Context
from bench.stats import Figure, percentile, ratio_samples
from shared.models import TaskStatus, new_task_id
from shared.stores.keys import generate_key, hash_key

NAME = "api_cost"
TITLE = "API cost as stored work grows (8 clients, 100 vs 10,000 tasks)"
NEEDS_WORKER = False

LEVELS = (100, 10_000)
KEYS = 1_000
CLIENTS = 8
TARGET_GROWTH = 1.5
# High enough that no key of the pool is ever refused. Not 1,000,000: RateLimitStore.acquire lists and shuffles
# range(REQUEST_LIMIT) on every submission, which alone costs ~0.3 s of CPU at a million (see the side figure below).
REQUEST_LIMIT = 10_000
HUGE_REQUEST_LIMIT = 1_000_000
NEVER_FETCHED_URL = "http://127.0.0.1:9/bench.mp4"  # no worker runs: the URL is only checked, never fetched
VIDEO_PARAMS = {"video_format": "bestvideo", "audio_format": "bestaudio", "output_format": "mp4", "start_time": None, "end_time": None, "force_keyframes": False}


@dataclass
class Phase:
    """Latencies of one phase (all clients), its wall time and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    created: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- seeding


def seed_keys(stack: BenchStack, count: int) -> list[str]:
    """`count` keys written as KeyStore.create() writes them (a KMS-encrypted name item and a hash lookup item);
    returns the plaintexts. Written with batch_write_item: moto deep-copies every table on each
    transact_write_items, so KeyStore.create() itself would take about a minute for 1,000 keys in the emulator."""
    stamp = time.monotonic_ns()
    kms, kms_key = stack.clients.kms, stack.settings.keys_kms_key_id

    def items(n: int) -> tuple[str, list[dict[str, Any]]]:
        name, key = f"bench-{stamp}-{n}", generate_key()
        ciphertext = kms.encrypt(KeyId=kms_key, Plaintext=key.encode(), EncryptionContext={"key_name": name})["CiphertextBlob"]
        common = {
            "name": {"S": name},
            "key_hash": {"S": hash_key(key)},
            "permissions": {"L": [{"S": p} for p in USER_PERMISSIONS]},
            "created_at": {"N": repr(time.time())},
        }
        return key, [
            {"PutRequest": {"Item": {"pk": {"S": f"name#{name}"}, **common, "ciphertext": {"B": ciphertext}}}},
            {"PutRequest": {"Item": {"pk": {"S": f"hash#{hash_key(key)}"}, **common}}},
        ]

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(items, range(count)))
    _batch_write(stack, stack.settings.keys_table, [request for _, requests in made for request in requests])
    return [key for key, _ in made]


def task_item(task_id: str, owner: str, created_at: float) -> dict[str, Any]:
    """A waiting video task as TaskStore.create() stores it."""
    return {
        "task_id": {"S": task_id},
        "owner": {"S": owner},
        "status": {"S": TaskStatus.WAITING.value},
        "task_type": {"S": "get_video"},
        "url": {"S": NEVER_FETCHED_URL},
        "params": {"S": json.dumps(VIDEO_PARAMS)},
        "created_at": {"N": repr(created_at)},
        "attempts": {"N": "0"},
    }


def seed_tasks(stack: BenchStack, count: int, keys: list[str]) -> list[tuple[str, str]]:
    """`count` tasks spread over the keys, written with batch_write_item; returns (task_id, owner key) pairs."""
    now = time.time()
    owned = [(new_task_id(), keys[n % len(keys)]) for n in range(count)]
    requests = [{"PutRequest": {"Item": task_item(task_id, hash_key(key), now - n)}} for n, (task_id, key) in enumerate(owned)]
    _batch_write(stack, stack.settings.tasks_table, requests)
    return owned


def delete_tasks(stack: BenchStack, task_ids: list[str]) -> None:
    _batch_write(stack, stack.settings.tasks_table, [{"DeleteRequest": {"Key": {"task_id": {"S": t}}}} for t in task_ids])


def forget_submissions(stack: BenchStack, task_ids: list[str]) -> None:
    """Undo a phase's submissions: their tasks, their queued jobs and the rate-limit slots they took.

    Stored work must stay at its level, and the rest must not pile up either: in moto a DynamoDB query walks every
    item of the table and an SQS send slows with the queue's length, so each round would otherwise cost more than
    the one before (about 10 ms per submission per 1,000 earlier submissions on this kind of machine).
    """
    delete_tasks(stack, task_ids)
    drain_queue(stack)
    db, table = stack.clients.dynamodb, stack.settings.rate_limits_table
    slots: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "pk, slot"}
    while True:
        page = db.scan(**kwargs)
        slots += [{"DeleteRequest": {"Key": item}} for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    _batch_write(stack, table, slots)


def drain_queue(stack: BenchStack) -> None:
    """Receive and delete every queued job (PurgeQueue is allowed once a minute only)."""
    sqs, url = stack.clients.sqs, stack.settings.jobs_queue_url
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=600).get("Messages"):
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def _batch_write(stack: BenchStack, table: str, requests: list[dict[str, Any]]) -> None:
    db = stack.clients.dynamodb

    def write(chunk: list[dict[str, Any]]) -> None:
        pending = {table: chunk}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, chunks))


# ---------------------------------------------------------------- load


def run_phase(clients: int, per_client: int, one_request: Callable[[random.Random], tuple[float, str | None, str | None]]) -> Phase:
    """`clients` threads each making `per_client` requests back to back; one_request returns (latency, error, created id)."""
    phase = Phase()
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        start_line.wait()
        for _ in range(per_client):
            latency, error, created = one_request(rng)
            with lock:
                if error:
                    phase.errors.append(error)
                else:
                    phase.latencies.append(latency)
                if created:
                    phase.created.append(created)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start_line.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    phase.seconds = time.perf_counter() - started
    return phase


def submitter(api: ApiClient, keys: list[str]) -> Callable[[random.Random], tuple[float, str | None, str | None]]:
    def submit(rng: random.Random) -> tuple[float, str | None, str | None]:
        t = time.perf_counter()
        try:
            reply = api.call("POST", "/get_video", {"url": NEVER_FETCHED_URL}, key=rng.choice(keys))
        except OSError as err:
            return time.perf_counter() - t, f"{type(err).__name__}", None
        latency = time.perf_counter() - t
        if reply.status != 200:
            return latency, f"HTTP {reply.status}: {reply.body}", None
        return latency, None, reply.body["task_id"]

    return submit


def status_reader(api: ApiClient, tasks: list[tuple[str, str]]) -> Callable[[random.Random], tuple[float, str | None, str | None]]:
    def read(rng: random.Random) -> tuple[float, str | None, str | None]:
        task_id, key = rng.choice(tasks)
        t = time.perf_counter()
        try:
            reply = api.call("GET", f"/status/{task_id}", key=key)
        except OSError as err:
            return time.perf_counter() - t, f"{type(err).__name__}", None
        latency = time.perf_counter() - t
        return latency, None if reply.status == 200 else f"HTTP {reply.status}: {reply.body}", None

    return read


def sequential_submits(api: ApiClient, count: int) -> list[float]:
    """One client, `count` submissions one after another: latency without any queueing."""
    submit = submitter(api, [api.key or ""])
    rng = random.Random(0)
    out = []
    for _ in range(count):
        latency, error, _ = submit(rng)
        if error:
            raise RuntimeError(f"sequential submission failed: {error}")
        out.append(latency)
    return out


# ---------------------------------------------------------------- the benchmark


@dataclass
class Level:
    """One stack with its stored work, and what its rounds measured."""

    tasks_stored: int
    stack: BenchStack
    keys: list[str]
    tasks: list[tuple[str, str]]
    api: ApiClient
    seed_seconds: float
    submit: list[Phase] = field(default_factory=list)
    status: list[Phase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def round(self, per_client: int) -> None:
        submit = run_phase(CLIENTS, per_client, submitter(self.api, self.keys))
        forget_submissions(self.stack, submit.created)  # back to the level for the next phase and round
        status = run_phase(CLIENTS, per_client, status_reader(self.api, self.tasks))
        self.submit.append(submit)
        self.status.append(status)
        self.errors.extend(submit.errors + status.errors)


def prepare(stack: BenchStack, tasks_stored: int) -> Level:
    started = time.perf_counter()
    keys = seed_keys(stack, KEYS)
    tasks = seed_tasks(stack, tasks_stored, keys)
    level = Level(tasks_stored, stack, keys, tasks, ApiClient(stack.base_url), time.perf_counter() - started)
    # Warm-up: every client thread opens its connection and the API builds its clients before anything is timed.
    warm = [run_phase(CLIENTS, 3, status_reader(level.api, tasks)), run_phase(CLIENTS, 2, submitter(level.api, keys))]
    forget_submissions(stack, warm[1].created)
    level.errors += warm[0].errors + warm[1].errors
    return level


def run(ctx: Context) -> list[Figure]:
    rounds, per_client = ctx.repeats(5, 3), ctx.repeats(50, 25)
    # The local cleanup timer is off here: its by-expiry query is a full table scan in moto (~80 ms at 10,000
    # tasks, a sparse-index read in DynamoDB) and holds the emulator's DynamoDB lock, stalling every request.
    config = {"WORKER_PROCESSES": "0", "REQUEST_LIMIT": str(REQUEST_LIMIT), "CLEANUP_INTERVAL": "3600"}
    # Both stacks run side by side and take turns, so whatever else the machine does hits both levels alike.
    stacks = ctx.stacks([config for _ in LEVELS], fresh=True)
    levels = [prepare(stack, n) for stack, n in zip(stacks, LEVELS)]
    for _ in range(rounds):
        for level in levels:
            level.round(per_client)
    small, large = levels
    sequential = sequential_submits(ApiClient(small.stack.base_url, small.keys[0]), ctx.repeats(20, 10))
    for level in levels:
        level.api.close()
    ctx.stop_stacks()

    figures: list[Figure] = []
    series: dict[tuple[int, str], list[float]] = {}
    for level in levels:
        n, label = level.tasks_stored, f"{level.tasks_stored:,} tasks"
        for kind in ("submit", "status"):
            phases: list[Phase] = getattr(level, kind)
            series[n, f"{kind} p50"] = [percentile(p.latencies, 50) for p in phases]
            series[n, f"{kind} p99"] = [percentile(p.latencies, 99) for p in phases]
            series[n, f"{kind} throughput"] = [p.throughput for p in phases]
            figures += [
                Figure(NAME, f"{label}: {kind} p50", "s", series[n, f"{kind} p50"]),
                Figure(NAME, f"{label}: {kind} p99", "s", series[n, f"{kind} p99"]),
                Figure(NAME, f"{label}: {kind} throughput", "req/s", series[n, f"{kind} throughput"], note=f"{sum(len(p.latencies) for p in phases)} requests"),
            ]
        figures.append(
            Figure(NAME, f"{label}: errors", "count", [float(len(level.errors))], target="0", met=not level.errors,
                   note="; ".join(sorted(set(level.errors))[:3]), detail={"seed_seconds": level.seed_seconds})
        )
    a, b = small.tasks_stored, large.tasks_stored
    for metric in ("submit p50", "submit p99", "status p50", "status p99"):
        growth = Figure(NAME, f"{metric}: {b:,} / {a:,}", "x", ratio_samples(series[b, metric], series[a, metric]), target=f"<= {TARGET_GROWTH}")
        growth.met = growth.median <= TARGET_GROWTH
        figures.append(growth)
    for kind in ("submit", "status"):
        drop = Figure(NAME, f"{kind} throughput: {a:,} / {b:,}", "x", ratio_samples(series[a, f"{kind} throughput"], series[b, f"{kind} throughput"]), target=f"<= {TARGET_GROWTH}")
        drop.met = drop.median <= TARGET_GROWTH
        figures.append(drop)
    figures.append(Figure(NAME, f"submit, 1 client, REQUEST_LIMIT={REQUEST_LIMIT:,}", "s", sequential))
    figures.append(limiter_figure(ctx))
    ctx.notes.append(
        "api_cost runs against moto (the emulator) on this machine, with the 8 clients on the same cores: absolute "
        "latencies are moto's and the machine's, not DynamoDB's or SQS's. Ratios pair the n-th round of each level."
    )
    return figures


def limiter_figure(ctx: Context) -> Figure:
    """Submission latency with a huge REQUEST_LIMIT: the slot choice costs what the slots in use cost, not the limit."""
    stack = ctx.stack(fresh=True, WORKER_PROCESSES="0", REQUEST_LIMIT=str(HUGE_REQUEST_LIMIT))
    api = ApiClient(stack.base_url, stack.new_key("limiter"))
    sequential_submits(api, 2)  # warm-up
    latencies = sequential_submits(api, ctx.repeats(10, 5))
    ctx.stop_stacks()
    return Figure(NAME, f"submit, 1 client, REQUEST_LIMIT={HUGE_REQUEST_LIMIT:,}", "s", latencies, note="same as a small limit")
