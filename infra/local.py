"""`make run`: the whole stack on one machine — an embedded AWS emulator with template.yaml deployed into it,
the API on uvicorn, WORKER_PROCESSES workers (restarted when they die, as ECS would) and the cleanup on a timer.
Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

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
from pathlib import Path

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
DEFAULTS = {"VISIBILITY_TIMEOUT": "30"}  # a killed worker's job comes back within half a minute locally


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

    def start(self, env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env={**env, **self.extra_env}, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()


class LocalStack:
    """Starts, supervises and stops the local services."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.env = {**DEFAULTS, **environ, **LOCAL_ENV}
        self.port = int(self.env.get("PORT", "5000"))
        self.emulator_port = int(self.env.get("EMULATOR_PORT", "4566"))
        self.workers = int(self.env.get("WORKER_PROCESSES", "1"))
        self.log_dir = Path(self.env.get("LOCAL_LOG_DIR", ROOT / ".local" / "logs"))
        self.state_dir = Path(self.env.get("STATE_DIR", ROOT / ".local"))
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.emulator = None

    def start(self) -> None:
        from infra.deploy_local import deploy
        from infra.emulator import start_emulator

        self.log_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(LOCAL_ENV)
        self.emulator, endpoint = start_emulator(self.emulator_port)
        log.info("emulator on %s", endpoint)
        parameters = {k: self.env[v] for k, v in _TEMPLATE_PARAMETERS.items() if v in self.env}
        outputs = deploy(endpoint, parameters=parameters, region=LOCAL_ENV["AWS_REGION"])
        self.env.update(outputs)
        self.env["AWS_ENDPOINT_URL"] = endpoint
        # In AWS the template generates this secret in Secrets Manager; here a file plays its part.
        self.env.setdefault("FILE_LINK_SECRET", f"file:{ensure_secret_file(self.state_dir / 'secrets' / 'file-link')}")
        os.environ.update(self.env)
        self._bootstrap_admin()

        python = sys.executable
        worker_env = ytdlp_environment(self.env)
        self.children.append(Child("api", [python, "-m", "functions.api"], self.log_dir / "api.log", restart=True))
        for n in range(self.workers):
            self.children.append(
                Child(f"worker-{n + 1}", [python, "-m", "functions.worker"], self.log_dir / f"worker-{n + 1}.log", restart=True, extra_env=worker_env)
            )
        for child in self.children:
            child.start(self.env)
        threading.Thread(target=self._cleanup_timer, name="cleanup", daemon=True).start()
        self._wait_for_health()
        log.info("API on http://127.0.0.1:%d (docs at /docs); %d worker process(es); logs in %s", self.port, self.workers, self.log_dir)

    def supervise(self) -> None:
        """Restart children that die (workers and API alike) until asked to stop."""
        while not self.stopping.wait(0.5):
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
        if self.emulator is not None:
            self.emulator.stop()
        log.info("stopped")

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
        raise RuntimeError(f"the API did not become healthy; see {self.log_dir / 'api.log'}")


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


# template.yaml parameter -> environment variable that sets it locally.
_TEMPLATE_PARAMETERS = {
    "TaskCleanupTime": "TASK_CLEANUP_TIME",
    "RequestLimit": "REQUEST_LIMIT",
    "MaxWorkers": "MAX_WORKERS",
    "MaxAttempts": "MAX_ATTEMPTS",
    "VisibilityTimeout": "VISIBILITY_TIMEOUT",
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
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
