"""YTDLP_VERSION and the canary, offline: what gets installed where, what the workers then report, and the canary's
report against a loopback stand-in of the API (the real canary talks to a real site and is never run by tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import canary, local
from infra.ytdlp_release import ReleaseError, check, ejs_requirement, pip_args, pinned_version

ROOT = Path(__file__).resolve().parents[2]


def test_ytdlp_release_values() -> None:
    assert pinned_version() == "2026.10.26"
    assert check("") == "" and check(pinned_version()) == ""  # the default stays the pinned, tested release
    assert check("2026.8.19") == "2026.8.19" and check("latest") == "latest" and check(" Nightly ") == "nightly"
    for bad in ("1.0; rm -rf /", "yt-dlp==1", "../x", "2026"):
        with pytest.raises(ReleaseError, match="YTDLP_VERSION"):
            check(bad)


def test_ytdlp_release_pip_commands(tmp_path: Path) -> None:
    assert pip_args("2026.8.19", tmp_path)[-1] == "yt-dlp==2026.8.19"
    nightly = pip_args("nightly", tmp_path)
    assert "--pre" in nightly and nightly[-1] == "yt-dlp" and "--no-deps" in nightly and str(tmp_path) in nightly


def _fake_release(folder: Path, version: str, ejs: str) -> Path:
    """What pip --target leaves for yt-dlp: its dist-info (the code itself is not needed to read versions)."""
    info = folder / f"yt_dlp-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: yt-dlp\nVersion: {version}\nProvides-Extra: default\n"
        f'Requires-Dist: yt-dlp-ejs=={ejs}; extra == "default"\n'
    )
    return folder


def test_ytdlp_release_finds_the_ejs_the_release_asks_for(tmp_path: Path) -> None:
    assert ejs_requirement(_fake_release(tmp_path / "r", "2026.8.19", "0.7.0")) == "0.7.0"


def test_workers_report_the_release_first_on_their_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN YTDLP_VERSION installed (here: faked) into its folder
    release = _fake_release(tmp_path / "2026.8.19", "2026.8.19", "0.8.0")
    monkeypatch.setattr("infra.ytdlp_release.install", lambda version: release if version else None)
    # WHEN make run builds the workers' environment
    extra = local.ytdlp_environment({"YTDLP_VERSION": "2026.8.19", "PYTHONPATH": "/elsewhere"})
    assert extra["PYTHONPATH"].split(os.pathsep) == [str(release), "/elsewhere"]
    assert local.ytdlp_environment({}) == {}
    # THEN a process with that environment reports that release (what its heartbeat, and /health, show)
    code = "import json; from functions.worker.presence import collect_versions; print(json.dumps(collect_versions()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **extra}, capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout)["yt_dlp"] == "2026.8.19"


class _FakeApi(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.headers.get("X-API-Key") != "k":
            self._json(401, {"error": "Invalid API key"})
        else:
            self._json(200, {"status": "waiting", "task_id": "AbCdEfGh12345678"})

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {"status": "ok", "workers": 1, "versions": {"yt_dlp": "2026.10.26", "deno": "2.9.8"}})
        else:
            self._json(200, {"status": "error", "error": "Sign in to confirm you're not a bot (configure cookies ...)"})


def test_canary_reports_outcome_time_and_versions(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert canary.main({"URL": "https://example.invalid/v", "BASE_URL": base, "API_KEY": "k", "TASK": ""}) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["outcome"] == "error" and "not a bot" in report["error"] and report["seconds"] >= 0
        assert report["versions"] == {"yt_dlp": "2026.10.26", "deno": "2.9.8"} and report["workers"] == 1
        assert canary.run(base, "wrong", "https://example.invalid/v")["outcome"] == "refused"
        assert canary.main({"URL": "", "API_KEY": "k"}) == 2
    finally:
        server.shutdown()
        server.server_close()
