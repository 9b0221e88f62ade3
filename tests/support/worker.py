"""Helpers for the worker's tests: the emulator as a server with template.yaml deployed, extra queues, worker
processes (`python -m functions.worker`), tasks and their outputs, and a fake resolver for the SSRF guard."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.models import media_key, new_task_id
from shared.urls import is_public_address
from shared.stores.queue import JobQueue
from shared.stores.tasks import TaskStore
from tests.support.media import probe
from tests.support.stack import FAKE_AWS_ENV, ROOT, DeployedStack, deploy_stack


@pytest.fixture(scope="module")
def emulator() -> Iterator[DeployedStack]:
    """moto as a server on 127.0.0.1 with template.yaml deployed (one per test module)."""
    from infra.emulator import start_emulator

    saved = {name: os.environ.get(name) for name in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    server, endpoint = start_emulator()
    try:
        yield deploy_stack(endpoint)
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Queues:
    """A jobs queue with its own dead-letter queue (so tests' workers never take each other's jobs)."""

    url: str
    dlq_url: str
    jobs: JobQueue


def make_queues(stack: DeployedStack, max_receive: int = 3, visibility: int = 10) -> Queues:
    sqs = stack.clients.sqs
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}),
        },
    )["QueueUrl"]
    return Queues(url=url, dlq_url=dlq_url, jobs=JobQueue(sqs, url))


@dataclass
class WorkerProcess:
    """One `python -m functions.worker` with its own environment and log file."""

    stack: DeployedStack
    queue_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        s = self.stack.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(FAKE_AWS_ENV)
        env.update(
            AWS_ENDPOINT_URL=str(s.aws_endpoint_url),
            TASKS_TABLE=s.tasks_table,
            COOKIES_TABLE=s.cookies_table,
            WORKERS_TABLE=s.workers_table,
            KEYS_KMS_KEY_ID=s.keys_kms_key_id,
            MEDIA_BUCKET=s.media_bucket,
            JOBS_QUEUE_URL=self.queue_url,
            ALLOW_PRIVATE_NETWORKS="true",
            VISIBILITY_TIMEOUT="10",
            MAX_WORKERS="2",
            SHUTDOWN_GRACE="5",
            RETRY_BACKOFF="1",
            SOCKET_TIMEOUT="5",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "functions.worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit (fixture teardown)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.logs().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def descendants(self) -> list[int]:
        """Pids of every process below this worker (forkserver, job children, ffmpeg)."""
        return descendants(self.pid)


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def start_worker(emulator: DeployedStack, tmp_path: Path) -> Iterator[Any]:
    """Factory: start_worker(queues, **env) -> a running WorkerProcess; all are stopped after the test."""
    workers: list[WorkerProcess] = []

    def start(queues: Queues, **env: Any) -> WorkerProcess:
        env = {k.upper(): str(v) for k, v in env.items()}
        env.setdefault("SCRATCH_DIR", str(tmp_path / "scratch"))
        worker = WorkerProcess(emulator, queues.url, tmp_path / f"worker-{len(workers) + 1}.log", env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def submit(stack: DeployedStack, queues: Queues | None, task_type: str, url: str, params: dict[str, Any] | None = None, send: bool = True) -> str:
    """Create a waiting task as the API would and (optionally) queue its job; returns the task id."""
    task_id = new_task_id()
    TaskStore(stack.clients.dynamodb, stack.settings.tasks_table).create(task_id, "tester", task_type, url, params or {})
    if send and queues is not None:
        queues.jobs.send(task_id)
    return task_id


def get_task(stack: DeployedStack, task_id: str) -> dict[str, Any]:
    task = TaskStore(stack.clients.dynamodb, stack.settings.tasks_table).get(task_id)
    assert task is not None, f"task {task_id} is gone"
    return task


def wait_for_task(stack: DeployedStack, task_id: str, statuses: tuple[str, ...] = ("completed", "error"), timeout: float = 60, worker: WorkerProcess | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task = get_task(stack, task_id)
    while time.monotonic() < deadline:
        task = get_task(stack, task_id)
        if task["status"] in statuses:
            return task
        time.sleep(0.1)
    logs = worker.logs() if worker else ""
    raise AssertionError(f"task {task_id} still {task['status']} after {timeout}s: {task}\n{logs}")


def task_objects(stack: DeployedStack, task_id: str) -> list[str]:
    listing = stack.clients.s3.list_objects_v2(Bucket=stack.settings.media_bucket, Prefix=f"tasks/{task_id}/")
    return [obj["Key"] for obj in listing.get("Contents", [])]


def fetch_output(stack: DeployedStack, task: dict[str, Any], dest_dir: Path) -> Path:
    """Download a completed task's file from the bucket."""
    assert task["status"] == "completed", task
    dest = dest_dir / task["file_name"]
    body = stack.clients.s3.get_object(Bucket=stack.settings.media_bucket, Key=media_key(task["task_id"], task["file_name"]))["Body"]
    dest.write_bytes(body.read())
    return dest


def probe_output(stack: DeployedStack, task: dict[str, Any], dest_dir: Path) -> dict[str, Any]:
    return probe(fetch_output(stack, task, dest_dir))


def queue_counts(stack: DeployedStack, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attrs = stack.clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


class FakeResolver:
    """getaddrinfo over a table; records every lookup."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        answers = self.table.get(name)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answers and isinstance(answers[0], list):  # a sequence of answers: DNS that changes between lookups
            answers = answers.pop(0) if len(answers) > 1 else answers[0]
        infos = []
        for address in answers:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
            infos.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos


def loopback_is_public(address: str) -> bool:
    """The tests' stand-in for a public address is 127.0.0.1 (never anything beyond the machine)."""
    return address == "127.0.0.1" or is_public_address(address)
