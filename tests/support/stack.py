"""The stack for tests: template.yaml deployed into moto (in-process or server), and the whole local stack as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.aws import AwsClients
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[2]
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

TEST_FILE_LINK_SECRET = "test-file-link-secret-0123456789abcdef"


@dataclass
class DeployedStack:
    """Settings and clients for a deployment of template.yaml in the emulator."""

    settings: Settings
    clients: AwsClients
    outputs: dict[str, str]

    def with_settings(self, **changes: Any) -> "DeployedStack":
        return DeployedStack(self.settings.model_copy(update=changes), self.clients, self.outputs)


def deploy_stack(endpoint_url: str | None, **settings: Any) -> DeployedStack:
    """Deploy template.yaml (through the emulator's CloudFormation) and return settings pointing at it."""
    from infra.deploy_local import deploy

    outputs = deploy(endpoint_url, region=FAKE_AWS_ENV["AWS_REGION"])
    values = {name.lower(): value for name, value in outputs.items()}
    values.update(aws_region=FAKE_AWS_ENV["AWS_REGION"], aws_endpoint_url=endpoint_url, file_link_secret=TEST_FILE_LINK_SECRET)
    values.update(settings)
    resolved = Settings(**values)
    return DeployedStack(resolved, AwsClients.from_settings(resolved), outputs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStackProcess:
    """`python -m infra.local` (what `make run` starts) as a child process in its own process group."""

    env_overrides: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    emulator_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            PORT=str(self.port),
            EMULATOR_PORT=str(self.emulator_port),
            DYNAMODB_PORT=str(free_port()),
            S3_PORT=str(free_port()),
            LOCAL_LOG_DIR=str(self.log_dir),
            PYTHONUNBUFFERED="1",
            # Never the project's own .local/state: each stack of the tests or benchmarks keeps its state by its logs.
            STATE_DIR=str(self.log_dir / "state"),
        )
        env.update(self.env_overrides)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "stack.log", "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local stack exited with {self.process.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"local stack did not become healthy:\n{self.logs()}")

    def stop(self, timeout: float = 120) -> int | None:
        """SIGTERM to the process group, as a user's Ctrl-C or a supervisor would; returns the exit code.

        The stack bounds its own stop (children SHUTDOWN_GRACE + 5 s, backends 10 s, emulator 5 s); `timeout` sits
        well above that, so a kill here means a hang, and the logs go to stderr to show where.
        """
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
            print(f"local stack did not stop within {timeout:.0f}s of SIGTERM:\n{self.logs()}", file=sys.stderr)
            return code

    def resources(self) -> dict[str, str]:
        """Resource names and per-service endpoints the running stack wrote at its start (no secrets)."""
        return json.loads((self.log_dir / "resources.json").read_text())

    def kill(self) -> int:
        """SIGKILL to the whole process group, as a power cut or the OOM killer would; returns the exit code."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()

    def logs(self) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def request(method: str, url: str, key: str | None = None, body: Any = None, raw: bytes | None = None, follow: bool = True) -> tuple[int, dict[str, str], Any]:
    """A plain HTTP call: (status, headers with lower-case names, parsed JSON or bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if key is not None:
        req.add_header("X-API-Key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(req, timeout=30) as r:
            status, headers, payload = r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as err:
        status, headers, payload = err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
    if headers.get("content-type", "").startswith("application/json"):
        return status, headers, json.loads(payload)
    return status, headers, payload


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
