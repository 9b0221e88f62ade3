"""`make run`: the whole stack on one machine — DynamoDB and S3 served from STATE_DIR (infra/backends.js), an
embedded moto for SQS and KMS with template.yaml deployed into it, the API on uvicorn, WORKER_PROCESSES workers
(restarted when they die, as ECS would) and the cleanup on a timer. Ctrl-C or SIGTERM stops everything it started;
the next start finds every key, task and file again (see infra/state.py).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable
from pathlib import Path

from infra.state import StateError, open_state, state_dir

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("local-stack")

# The local stack never talks to AWS: fake credentials, and every client goes to the emulator.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
DEFAULTS = {
    "VISIBILITY_TIMEOUT": "30",  # a killed worker's job comes back within half a minute locally
    "API_PROCESSES": "2",  # processes sharing PORT (SO_REUSEPORT): the API uses both cores of a small box
    "WORKER_NICE": "10",  # downloads and ffmpeg yield the CPU to the API and the backends: requests stay fast
}
_EMULATOR_STOP_TIMEOUT = 5.0


@dataclass
class Child:
    """One supervised process: its command, its log file and, for workers, whether to restart it."""

    name: str
    argv: list[str]
    log_path: Path
    restart: bool
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    extra_env: dict[str, str] = field(default_factory=dict)

    nice: int = 0

    def start(self, env: dict[str, str]) -> None:
        niceness = self.nice
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env={**env, **self.extra_env}, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
            )
        self.started_at = time.monotonic()


class LocalStack:
    """Starts, supervises and stops the local services."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.env = {**DEFAULTS, **environ, **LOCAL_ENV}
        self.port = int(self.env.get("PORT", "5000"))
        self.emulator_port = int(self.env.get("EMULATOR_PORT", "4566"))
        self.workers = int(self.env.get("WORKER_PROCESSES", "1"))
        self.log_dir = Path(self.env.get("LOCAL_LOG_DIR", ROOT / ".local" / "logs"))
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.failed = False
        self.emulator = None
        self.backends = None
        self.state_dir = state_dir(self.env)

    def start(self) -> None:
        from infra.deploy_local import deploy
        from infra.emulator import start_emulator

        from infra.backends import Backends
        from infra.deploy_local import mirror_to_backends
        from infra.emulator import KmsKeyVault

        self.log_dir.mkdir(parents=True, exist_ok=True)
        open_state(self.state_dir)
        log.info("state in %s", self.state_dir)
        os.environ.update(LOCAL_ENV)
        self.backends = Backends(
            self.state_dir,
            open(self.log_dir / "backends.log", "ab"),
            ports=(int(self.env.get("DYNAMODB_PORT", "4567")), int(self.env.get("S3_PORT", "4568"))),
            credentials=(LOCAL_ENV["AWS_ACCESS_KEY_ID"], LOCAL_ENV["AWS_SECRET_ACCESS_KEY"]),
        )
        backends = self.backends.start()
        log.info("DynamoDB on %s, S3 on %s (from disk)", backends["dynamodb"], backends["s3"])
        self.emulator, endpoint = start_emulator(self.emulator_port)
        log.info("emulator (SQS, KMS) on %s", endpoint)
        parameters = {k: self.env[v] for k, v in _TEMPLATE_PARAMETERS.items() if v in self.env}
        region = LOCAL_ENV["AWS_REGION"]
        outputs = deploy(endpoint, parameters=parameters, region=region)
        kept = self._persisted_names(outputs)
        mirror_to_backends(
            endpoint,
            backends,
            tables={outputs[n]: kept[n] for n in PERSISTED_TABLES},
            buckets={outputs[n]: kept[n] for n in PERSISTED_BUCKETS},
            region=region,
        )
        outputs.update(kept)
        key_arn = outputs["KEYS_KMS_KEY_ID"]
        outputs["KEYS_KMS_KEY_ID"] = KmsKeyVault(self.state_dir / "kms-keys.json").restore_or_record(key_arn, key_arn.split(":")[4], region)
        self.env.update(outputs)
        self.env["AWS_ENDPOINT_URL"] = endpoint
        # In AWS the template generates this secret in Secrets Manager; here a file plays its part.
        self.env.setdefault("FILE_LINK_SECRET", f"file:{ensure_secret_file(self.state_dir / 'secrets' / 'file-link')}")
        self.env["AWS_ENDPOINT_URL_DYNAMODB"] = backends["dynamodb"]
        self.env["AWS_ENDPOINT_URL_S3"] = backends["s3"]
        os.environ.update(self.env)
        self._write_resources_file(outputs)
        self._bootstrap_admin()
        self._requeue_unfinished()

        python = sys.executable
        worker_env = ytdlp_environment(self.env)
        api_processes = int(self.env["API_PROCESSES"])
        if api_processes > 1:
            self.env["API_REUSE_PORT"] = "true"
        for n in range(api_processes):
            name = "api" if n == 0 else f"api-{n + 1}"
            self.children.append(Child(name, [python, "-m", "functions.api"], self.log_dir / f"{name}.log", restart=True))
        # The notifier (functions/notify): in AWS a Lambda on the notify queue, here a long-polling process.
        self.children.append(Child("notify", [python, "-m", "functions.notify"], self.log_dir / "notify.log", restart=True))
        for n in range(self.workers):
            self.children.append(
                Child(
                    f"worker-{n + 1}", [python, "-m", "functions.worker"], self.log_dir / f"worker-{n + 1}.log", restart=True,
                    extra_env=worker_env, nice=int(self.env["WORKER_NICE"]),
                )
            )
        for child in self.children:
            child.start(self.env)
        threading.Thread(target=self._cleanup_timer, name="cleanup", daemon=True).start()
        self._wait_for_health()
        log.info("API on http://127.0.0.1:%d (docs at /docs); %d worker process(es); logs in %s", self.port, self.workers, self.log_dir)

    def supervise(self) -> None:
        """Restart children that die (workers and API alike) until asked to stop."""
        while not self.stopping.wait(0.5):
            if self.backends is not None and not self.backends.alive():
                log.error("the DynamoDB/S3 backends exited; stopping (see %s)", self.log_dir / "backends.log")
                self.failed = True
                self.stopping.set()
                break
            for child in self.children:
                if child.process is not None and child.process.poll() is not None and not self.stopping.wait(0.2):
                    code = child.process.returncode
                    # Back off a little if it keeps dying straight away.
                    if time.monotonic() - child.started_at < 2:
                        time.sleep(min(5, 0.5 * (child.restarts + 1)))
                    child.restarts += 1
                    log.warning("%s exited with %s; starting a new one (restart %d)", child.name, code, child.restarts)
                    child.start(self.env)

    def stop(self) -> None:
        started = time.monotonic()
        self.stopping.set()
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + int(self.env.get("SHUTDOWN_GRACE", "30")) + 5
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        children_done = time.monotonic()
        if self.backends is not None:
            self.backends.stop()
        backends_done = time.monotonic()
        if self.emulator is not None:
            stop_bounded(self.emulator.stop, _EMULATOR_STOP_TIMEOUT)
        log.info(
            "stopped (children %.1fs, backends %.1fs, emulator %.1fs)",
            children_done - started, backends_done - children_done, time.monotonic() - backends_done,
        )

    def _bootstrap_admin(self) -> None:
        from shared.aws import AwsClients
        from shared.bootstrap import ensure_admin_key
        from shared.config import Settings
        from shared.stores.keys import KeyStore

        settings = Settings()
        clients = AwsClients.from_settings(settings)
        new_key = ensure_admin_key(KeyStore(clients.dynamodb, settings.keys_table, clients.kms, settings.keys_kms_key_id), settings.admin_api_key)
        if new_key:
            # Printed once, here only: it is not logged anywhere else.
            print(f"\n  Admin API key (shown once, keep it): {new_key}\n", flush=True)
        elif settings.admin_api_key:
            log.info("admin key set from ADMIN_API_KEY")

    def _write_resources_file(self, outputs: dict[str, str]) -> None:
        """LOCAL_LOG_DIR/resources.json: the resource names and endpoints of this run (no secrets), for tools and benchmarks."""
        names = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", *outputs)
        (self.log_dir / "resources.json").write_text(json.dumps({n: self.env[n] for n in names}, indent=1))

    def _persisted_names(self, outputs: dict[str, str]) -> dict[str, str]:
        """The table and bucket names of the state: the first start's (moto's CloudFormation names them anew each time)."""
        from infra.state import load_json, write_atomic

        wanted = (*PERSISTED_TABLES, *PERSISTED_BUCKETS)
        path = self.state_dir / "resources.json"
        names: Any = load_json(path) if path.exists() else {}
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise StateError(f"{path} is unreadable; restore STATE_DIR from a backup")
        missing = [n for n in wanted if n not in names]  # none at all on a first start; a newer release's tables
        if missing:
            names.update({n: outputs[n] for n in missing})
            write_atomic(path, json.dumps(names, indent=1).encode(), mode=0o644)
        return {n: names[n] for n in wanted}

    def _requeue_unfinished(self) -> None:
        """Rebuild the (in-memory) job queue from the task table: one message per task left waiting or processing."""
        from shared.aws import AwsClients
        from shared.config import Settings
        from shared.stores.queue import JobQueue
        from shared.stores.tasks import TaskStore

        settings = Settings()
        clients = AwsClients.from_settings(settings)
        tasks, queue = TaskStore(clients.dynamodb, settings.tasks_table), JobQueue(clients.sqs, settings.jobs_queue_url)
        requeued = 0
        for task_id in tasks.unfinished():
            # No worker runs yet, so no lease can be live: a task a killed worker held starts again, once.
            if tasks.reset(task_id):
                queue.send(task_id)
                requeued += 1
        if requeued:
            log.info("requeued %d unfinished task(s) from the state", requeued)
        self._requeue_webhooks(tasks, clients, settings)

    def _requeue_webhooks(self, tasks: Any, clients: Any, settings: Any) -> None:
        """Rebuild the (in-memory) notify queue too: the next attempt of every finished task's pending webhook, now."""
        from shared.models import TaskStatus
        from shared.stores.notify_queue import Event, NotifyQueue
        from shared.webhooks import COMPLETED, FAILED, event_id

        queue = NotifyQueue(clients.sqs, settings.notify_queue_url)
        pending = tasks.pending_webhooks()
        for task in pending:
            kind = COMPLETED if task["status"] == TaskStatus.COMPLETED.value else FAILED
            queue.send(Event(task["task_id"], kind, event_id(task["task_id"]), attempts=int(task.get("wh_attempts", 0))))
        if pending:
            log.info("requeued %d pending webhook(s) from the state", len(pending))

    def _cleanup_timer(self) -> None:
        from functions.cleanup.handler import build_service
        from shared.config import Settings

        service = build_service(Settings())
        while not self.stopping.wait(float(self.env.get("CLEANUP_INTERVAL", "20"))):
            try:
                report = service.run()
                if report.tasks_removed or report.dead_jobs_failed:
                    log.info("cleanup: %s", report)
            except Exception:  # the timer must outlive a failed pass
                log.exception("cleanup pass failed")

    def _wait_for_health(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        if self.stopping.is_set():  # Ctrl-C or SIGTERM while starting: a normal stop, not a failed start
            return
        raise RuntimeError(f"the API did not become healthy; see {self.log_dir / 'api.log'}")


def stop_bounded(stop: Callable[[], None], timeout: float) -> None:
    """Run `stop` but give up after `timeout` seconds: moto's server joins its request threads on close, and one
    stuck on an idle keep-alive connection must not hold up the exit (the process ends and takes it along)."""
    thread = threading.Thread(target=stop, name="stop", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.warning("the emulator did not stop within %.0fs; exiting without it", timeout)


def ensure_secret_file(path: Path) -> Path:
    """A file holding a random secret, readable by its owner only; made once, then kept across runs."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(32))
    return path


def ytdlp_environment(env: dict[str, str]) -> dict[str, str]:
    """What the workers' environment adds for YTDLP_VERSION: that release's folder first on PYTHONPATH (or nothing)."""
    from infra.ytdlp_release import install

    release = install(env.get("YTDLP_VERSION", ""))
    if release is None:
        return {}
    log.info("workers run yt-dlp %s from %s", env.get("YTDLP_VERSION"), release)
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(release), env.get("PYTHONPATH", "")) if p)}


# Settings whose resources live on the disk-backed backends, under the names the state was created with.
PERSISTED_TABLES = ("KEYS_TABLE", "TASKS_TABLE", "RATE_LIMITS_TABLE", "COOKIES_TABLE", "WORKERS_TABLE", "RESULTS_TABLE", "USAGE_TABLE")
PERSISTED_BUCKETS = ("MEDIA_BUCKET",)

# template.yaml parameter -> environment variable that sets it locally.
_TEMPLATE_PARAMETERS = {
    "TaskCleanupTime": "TASK_CLEANUP_TIME",
    "RequestLimit": "REQUEST_LIMIT",
    "MaxWorkers": "MAX_WORKERS",
    "MaxAttempts": "MAX_ATTEMPTS",
    "VisibilityTimeout": "VISIBILITY_TIMEOUT",
    "WebhookRetryDelays": "WEBHOOK_RETRY_DELAYS",
}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stack = LocalStack(dict(os.environ))

    def on_signal(signum: int, _frame: object) -> None:
        stack.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        stack.supervise()
    except StateError as err:
        log.error("cannot start: %s", err)
        return 1
    finally:
        stack.stop()
    return 1 if stack.failed else 0


if __name__ == "__main__":
    sys.exit(main())
