"""Cold start: a fresh process imports the Lambda handler and answers GET /health through Mangum, against a fresh
process that only imports fastapi, mangum and boto3. The request is real: the emulator runs as a server with
template.yaml deployed, and the child reaches it through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Context
from bench.stats import Figure, ratio_samples
from tests.support.stack import FAKE_AWS_ENV, ROOT

NAME = "cold_start"
TITLE = "Cold start of the API Lambda"
NEEDS_WORKER = False
TARGET_RATIO = 1.3

HANDLER_SCRIPT = """
import time
started = time.perf_counter()
from functions.api.handler import lambda_handler
imported = time.perf_counter()
import json, sys
response = lambda_handler(json.loads(sys.argv[1]), None)
answered = time.perf_counter()
print(json.dumps({
    "import": imported - started,
    "first_request": answered - imported,
    "total": answered - started,
    "status": response["statusCode"],
    "yt_dlp_imported": "yt_dlp" in sys.modules,
    "moto_imported": "moto" in sys.modules,
    "modules": len(sys.modules),
}))
"""

BARE_SCRIPT = """
import time
started = time.perf_counter()
import fastapi, mangum, boto3
imported = time.perf_counter()
import json, sys
print(json.dumps({"total": imported - started, "modules": len(sys.modules)}))
"""


def health_event() -> dict[str, Any]:
    """GET /health as API Gateway's HTTP API (payload version 2.0) hands it to the function."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/health",
        "rawQueryString": "",
        "headers": {"host": "api.example.com", "user-agent": "bench"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def _fresh_process(script: str, env: dict[str, str], *args: str, package: Path | None = None) -> dict[str, Any]:
    """Run `script` in a new interpreter; its JSON answer plus the wall time from spawn to exit.

    With `package`, the interpreter sees only the standard library and that folder (-S: no site-packages), and
    writes no .pyc, as in Lambda's read-only code folder.
    """
    command, cwd = [sys.executable, "-c", script, *args], ROOT
    if package is not None:
        command, cwd = [sys.executable, "-S", "-c", script, *args], package
        env = {**env, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall": wall}


def build_package(ctx: Context) -> Path | None:
    """The Lambda package (infra/build_lambda) built for this machine's platform, or None (noted) when pip cannot."""
    from infra.build_lambda import BuildError, build, verify

    try:
        package = build(ctx.work_dir / "lambda-host", platform=("--only-binary=:all:",))
        verify(package, arm64=False)
    except (BuildError, subprocess.CalledProcessError, OSError) as err:
        ctx.notes.append(f"cold_start: the Lambda package could not be built here ({err}); only the venv was measured")
        return None
    return package


def measure(env: dict[str, str], event: str, repeats: int, package: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(handler runs, bare-import runs), interleaved so drift in machine load hits both sides alike."""
    # One untimed round each: byte-compiles anything not yet cached, so every timed run is a cold process, not a cold disk.
    _fresh_process(HANDLER_SCRIPT, env, event, package=package)
    _fresh_process(BARE_SCRIPT, env, package=package)
    handler_runs, bare_runs = [], []
    for _ in range(repeats):
        handler_runs.append(_fresh_process(HANDLER_SCRIPT, env, event, package=package))
        bare_runs.append(_fresh_process(BARE_SCRIPT, env, package=package))
    return handler_runs, bare_runs


def figures(label: str, handler_runs: list[dict[str, Any]], bare_runs: list[dict[str, Any]], target: bool) -> list[Figure]:
    statuses = sorted({r["status"] for r in handler_runs})
    handler_total = [r["total"] for r in handler_runs]
    bare_total = [r["total"] for r in bare_runs]
    ratio = Figure(NAME, f"{label}: ratio handler / bare import", "x", ratio_samples(handler_total, bare_total), target=f"<= {TARGET_RATIO}" if target else "")
    if target:
        ratio.met = ratio.median <= TARGET_RATIO
    wall = ratio_samples([r["wall"] for r in handler_runs], [r["wall"] for r in bare_runs])
    return [
        Figure(NAME, f"{label}: handler, import + first GET /health", "s", handler_total, note=f"HTTP {statuses}", detail={"runs": handler_runs}),
        Figure(NAME, "  of which import functions.api.handler", "s", [r["import"] for r in handler_runs]),
        Figure(NAME, "  of which first request (DynamoDB client + read)", "s", [r["first_request"] for r in handler_runs]),
        Figure(NAME, f"{label}: bare import fastapi, mangum, boto3", "s", bare_total, detail={"runs": bare_runs}),
        ratio,
        Figure(NAME, f"{label}: ratio incl. interpreter start (spawn to exit)", "x", wall),
    ]


def run(ctx: Context) -> list[Figure]:
    from infra.deploy_local import deploy
    from infra.emulator import start_emulator

    repeats = ctx.repeats(10, 4)
    package = build_package(ctx)
    server, endpoint = start_emulator(0)
    try:
        outputs = deploy(endpoint, region=FAKE_AWS_ENV["AWS_REGION"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({**FAKE_AWS_ENV, **outputs, "AWS_ENDPOINT_URL": endpoint})
        for name in ("ADMIN_API_KEY", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
            env.pop(name, None)
        event = json.dumps(health_event())
        venv_runs = measure(env, event, repeats)
        package_runs = measure(env, event, repeats, package) if package is not None else None
    finally:
        server.stop()

    # The package is what Lambda runs, so the target applies to it; the venv figures show the same code as `make run` loads it.
    result = figures("venv", *venv_runs, target=package_runs is None)
    if package_runs is not None:
        result += figures("Lambda package", *package_runs, target=True)
    all_runs = venv_runs[0] + (package_runs[0] if package_runs else [])
    yt_dlp = any(r["yt_dlp_imported"] for r in all_runs)
    result.append(Figure(NAME, "yt_dlp imported by the handler", "bool", [float(yt_dlp)], target="no", met=not yt_dlp, note="yes" if yt_dlp else "no"))
    return result
