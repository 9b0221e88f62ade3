"""The original yt-dlp-host (a Flask app) on loopback, for figures side by side with this stack.

Not fetched here: point YTDLP_HOST_ORIGINAL at a checkout of github.com/Vasysik/yt-dlp-host. It runs from a
temporary copy (downloads and JSON files in the copy), bound to 127.0.0.1, with the Flask that moto already brings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.stack import free_port

KEY = "bench-original-key-0123456789abcdefghijkl"
PERMISSIONS = ["create_key", "delete_key", "get_key", "get_keys", "get_video", "get_audio", "get_live_video", "get_live_audio", "get_info"]


def checkout() -> Path | None:
    value = os.environ.get("YTDLP_HOST_ORIGINAL", "")
    path = Path(value) if value else None
    return path if path and (path / "src" / "server.py").exists() else None


class Original:
    """The original server in its own process group; `base_url` once started."""

    def __init__(self, source: Path, work_dir: Path) -> None:
        self.root = work_dir / "original"
        shutil.copytree(source, self.root, ignore=shutil.ignore_patterns(".git"))
        downloads = self.root / "downloads"
        downloads.mkdir()
        config = (self.root / "config.py").read_text()
        (self.root / "config.py").write_text(re.sub(r"'/app/downloads'", repr(str(downloads)), config))
        keys = {"bench": {"key": KEY, "name": "bench", "permissions": PERMISSIONS, "memory_quota": 5 * 1024**3, "memory_usage": [], "last_access": None}}
        (self.root / "jsons").mkdir(exist_ok=True)
        (self.root / "jsons" / "api_keys.json").write_text(json.dumps(keys))
        (self.root / "jsons" / "tasks.json").write_text("{}")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> "Original":
        log = open(self.root / "server.log", "ab")
        argv = [sys.executable, "-m", "flask", "--app", "src.server", "run", "--host", "127.0.0.1", "--port", str(self.port), "--with-threads"]
        self.process = subprocess.Popen(argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base_url + "/status/none", timeout=1)
            except urllib.error.HTTPError:
                return self  # it answers (a 4xx for an unknown task)
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the original did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
