"""The disk-backed DynamoDB and S3 of the local stack (infra/backends.js: dynalite and s3rver, from npm)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO

from infra.state import StateError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "infra" / "backends.js"


class Backends:
    """One Node process serving DynamoDB and S3 from STATE_DIR; `endpoints` maps service name -> URL."""

    def __init__(
        self, state_dir: Path, log: IO[bytes], ports: tuple[int, int] = (0, 0), host: str = "127.0.0.1", credentials: tuple[str, str] = ("local", "local")
    ) -> None:
        self.state_dir = state_dir
        self.ports = ports
        self.host = host
        self.credentials = credentials
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, str] = {}

    def start(self, timeout: float = 30) -> dict[str, str]:
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "dynalite").is_dir():
            raise StateError("the local backends need Node.js and `make nodejs` (npm ci): run `make run`, which installs them")
        argv = [node, str(SCRIPT), str(self.state_dir), self.host, *map(str, self.ports), *self.credentials]
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log)
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise StateError(f"the DynamoDB/S3 backends did not start on {self.state_dir} (see backends.log): the ports may be taken, or the state unreadable")
        self.endpoints = json.loads(line[0])
        return self.endpoints

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self.log.close()
