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


def _fresh_process(script: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run `script` in a new interpreter; its JSON answer plus the wall time from spawn to exit."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall": wall}


def run(ctx: Context) -> list[Figure]:
    from infra.deploy_local import deploy
    from infra.emulator import start_emulator

    repeats = ctx.repeats(10, 4)
    server, endpoint = start_emulator(0)
    try:
        outputs = deploy(endpoint, region=FAKE_AWS_ENV["AWS_REGION"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({**FAKE_AWS_ENV, **outputs, "AWS_ENDPOINT_URL": endpoint})
        for name in ("ADMIN_API_KEY", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        event = json.dumps(health_event())
        # One untimed round each: byte-compiles anything not yet cached, so every timed run is a cold process, not a cold disk.
        _fresh_process(HANDLER_SCRIPT, env, event)
        _fresh_process(BARE_SCRIPT, env)
        handler_runs, bare_runs = [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both sides alike
            handler_runs.append(_fresh_process(HANDLER_SCRIPT, env, event))
            bare_runs.append(_fresh_process(BARE_SCRIPT, env))
    finally:
        server.stop()

    statuses = sorted({r["status"] for r in handler_runs})
    yt_dlp = any(r["yt_dlp_imported"] for r in handler_runs)
    handler_total = [r["total"] for r in handler_runs]
    bare_total = [r["total"] for r in bare_runs]
    ratio = Figure(NAME, "ratio handler / bare import", "x", ratio_samples(handler_total, bare_total), target=f"<= {TARGET_RATIO}")
    ratio.met = ratio.median <= TARGET_RATIO
    wall_ratio = Figure(NAME, "ratio incl. interpreter start (spawn to exit)", "x", ratio_samples([r["wall"] for r in handler_runs], [r["wall"] for r in bare_runs]))
    return [
        Figure(NAME, "handler: import + first GET /health", "s", handler_total, note=f"HTTP {statuses}", detail={"runs": handler_runs}),
        Figure(NAME, "  of which import functions.api.handler", "s", [r["import"] for r in handler_runs]),
        Figure(NAME, "  of which first request (clients + DynamoDB read)", "s", [r["first_request"] for r in handler_runs]),
        Figure(NAME, "bare import fastapi, mangum, boto3", "s", bare_total, detail={"runs": bare_runs}),
        ratio,
        wall_ratio,
        Figure(NAME, "yt_dlp imported by the handler", "bool", [float(yt_dlp)], target="no", met=not yt_dlp, note="yes" if yt_dlp else "no"),
    ]
