"""What the benchmarks share: the local stack as `make run` starts it, the emulator's clients, keys and local media."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bench.client import ApiClient
from bench.procfs import children_map, cmdline, cpu_seconds, tree_cpu_seconds
from shared.aws import AwsClients
from shared.config import Settings
from shared.models import TASK_TYPES
from shared.stores.keys import KeyStore
from tests.support.http_server import MediaServer
from tests.support.media import make_large_mp4, make_mp4
from tests.support.stack import FAKE_AWS_ENV, ROOT, LocalStackProcess

ADMIN_KEY = "bench-admin-key-0123456789abcdefghijklmnopq"
STACK_NAME = "ytdlp-local"  # what infra.deploy_local names the stack by default
WORKER_MODULE = ROOT / "functions" / "worker" / "__main__.py"
CLIP_SECONDS = (20, 30)
USER_PERMISSIONS = list(TASK_TYPES)

# Every stack the benchmarks start: private addresses allowed (the media is on loopback), an admin key we know.
BASE_ENV = {
    "ADMIN_API_KEY": ADMIN_KEY,
    "ALLOW_PRIVATE_NETWORKS": "true",
    "MAX_WORKERS": "4",
    "REQUEST_LIMIT": "1000",
    "TASK_CLEANUP_TIME": "30",
}


def worker_available() -> bool:
    """Whether `python -m functions.worker` exists yet (it is written by another engineer)."""
    return WORKER_MODULE.exists()


@dataclass
class BenchStack:
    """A running local stack plus what a benchmark needs to drive it and to write into its emulator."""

    process: LocalStackProcess
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.process.emulator_port}"

    @cached_property
    def settings(self) -> Settings:
        """Settings pointing at this stack's emulator and the resources deployed there."""
        from infra.deploy_local import OUTPUT_SETTINGS

        # What the stack wrote at its start: resource names and the endpoints of every service (DynamoDB and S3 are
        # not in the emulator).
        resources = json.loads((self.process.log_dir / "resources.json").read_text())
        values = {name.lower(): resources[name] for name in (*OUTPUT_SETTINGS.values(), "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3") if name in resources}
        return Settings(**values, aws_region=FAKE_AWS_ENV["AWS_REGION"], aws_endpoint_url=self.endpoint)

    @cached_property
    def clients(self) -> AwsClients:
        return AwsClients.from_settings(self.settings)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.clients.dynamodb, self.settings.keys_table, self.clients.kms, self.settings.keys_kms_key_id)

    def api(self, key: str = ADMIN_KEY) -> ApiClient:
        return ApiClient(self.base_url, key)

    def new_key(self, name: str) -> str:
        """A key with every task permission, made through the API as a user would."""
        reply = self.api().call("POST", "/create_key", {"name": f"{name}-{time.monotonic_ns()}", "permissions": USER_PERMISSIONS})
        if reply.status != 201:
            raise RuntimeError(f"create_key answered {reply.status}: {reply.body}")
        return reply.body["key"]

    def worker_pids(self) -> list[int]:
        """The running `python -m functions.worker` processes of this stack."""
        assert self.process.process is not None
        tree = children_map()
        return [pid for pid in tree.get(self.process.process.pid, []) if "functions.worker" in cmdline(pid)]

    def api_pid(self) -> int | None:
        assert self.process.process is not None
        return next((pid for pid in children_map().get(self.process.process.pid, []) if "functions.api" in cmdline(pid)), None)

    def cpu_by_part(self) -> dict[str, float]:
        """CPU seconds used so far by the stack's parts: workers (with their forkservers, jobs and ffmpeg), the API,
        and the launcher process, which hosts the emulator (moto) and the cleanup timer."""
        assert self.process.process is not None
        return {
            "workers": sum(tree_cpu_seconds(pid) for pid in self.worker_pids()),
            "api": sum(cpu_seconds(pid) for pid in children_map().get(self.process.process.pid, []) if "functions.api" in cmdline(pid)),
            "emulator": cpu_seconds(self.process.process.pid),
        }

    def wait_for_workers(self, timeout: float = 60) -> None:
        """Until every worker process has logged that it started (forkserver warm, long polling)."""
        count = int(self.env.get("WORKER_PROCESSES", "1"))
        deadline = time.monotonic() + timeout
        while not all('"worker started"' in self.log(f"worker-{n + 1}.log") for n in range(count)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} worker(s) did not start:\n{self.process.logs()}")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.process.log_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_entries(self, task_id: str) -> list[dict[str, Any]]:
        """The workers' JSON log lines about one task, worker by worker."""
        out = []
        for name in sorted(p.name for p in self.process.log_dir.glob("worker-*.log")):
            for line in self.log(name).splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("task_id") == task_id:
                    out.append(entry)
        return out


@dataclass
class Context:
    """Per-run state: quick or full, the running stacks (reused while the configuration matches), the media server."""

    quick: bool
    work_dir: Path
    _stacks: list[BenchStack] = field(default_factory=list)
    _media_server: MediaServer | None = None
    _stack_count: int = 0
    notes: list[str] = field(default_factory=list)

    def repeats(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def stack(self, fresh: bool = False, **overrides: str) -> BenchStack:
        """A running stack with BASE_ENV plus `overrides` (see stacks())."""
        return self.stacks([overrides], fresh=fresh)[0]

    def stacks(self, configs: list[dict[str, str]], fresh: bool = False) -> list[BenchStack]:
        """Running stacks, one per configuration (BASE_ENV plus its overrides): the current ones if they match and
        not `fresh`, otherwise new ones (the current ones are stopped first)."""
        envs = [{**BASE_ENV, **{k: str(v) for k, v in c.items()}} for c in configs]
        alive = all(s.process.process is not None and s.process.process.poll() is None for s in self._stacks)
        if not fresh and alive and [s.env for s in self._stacks] == envs:
            return list(self._stacks)
        self.stop_stacks()
        for env in envs:
            self._stack_count += 1
            label = f"stack-{self._stack_count}-w{env.get('WORKER_PROCESSES', '1')}"
            scratch = str(self.work_dir / label / "scratch")
            process = LocalStackProcess(env_overrides={"SCRATCH_DIR": scratch, **env}, log_dir=self.work_dir / label / "logs")
            self._stacks.append(BenchStack(process, env))  # before start(): stopped by close() even if it fails
            process.start()
        return list(self._stacks)

    def stop_stacks(self) -> None:
        """Stop every stack this context started."""
        while self._stacks:
            self._stacks.pop().process.stop()

    @property
    def media(self) -> MediaServer:
        """A loopback server over the run's media folder, with the 60 s mp4 made on first use."""
        if self._media_server is None:
            folder = self.work_dir / "media"
            make_mp4(folder / "video.mp4", 60)
            self._media_server = MediaServer(folder).start()
        return self._media_server

    def large_media_url(self, megabytes: float) -> tuple[str, Path]:
        path = self.media.root / "large.mp4"
        if not path.exists():
            make_large_mp4(path, megabytes=megabytes)
        return self.media.url("large.mp4"), path

    def close(self, keep_logs: bool) -> None:
        self.stop_stacks()
        if self._media_server is not None:
            self._media_server.stop()
        shutil.rmtree(self.work_dir / "media", ignore_errors=True)
        for scratch in self.work_dir.glob("stack-*/scratch"):
            shutil.rmtree(scratch, ignore_errors=True)
        if not keep_logs:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def clip_body(url: str) -> dict[str, Any]:
    """The clip every worker benchmark asks for: 20 s to 30 s, default formats, mp4, no re-encoding; never served from
    a shared result (`cache: false`), since the benchmarks time downloads."""
    return {"url": url, "start_time": CLIP_SECONDS[0], "end_time": CLIP_SECONDS[1], "cache": False}


def new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ytdlp-bench-"))


def use_fake_credentials() -> None:
    """This process talks only to the emulator: fake credentials, no endpoint or profile from the shell."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ADMIN_API_KEY"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)
