"""`make canary URL=...`: one real job through a running stack (local or deployed), with its outcome, time and versions.

    make canary URL=https://www.youtube.com/watch?v=...            # the local stack on 127.0.0.1:$PORT
    make canary URL=... BASE_URL=https://abc.execute-api... API_KEY=...   # a deployed stack
    make canary URL=... TASK=get_video                             # a download instead of get_info

API_KEY defaults to ADMIN_API_KEY. Run on demand only: it talks to a real site, so no test ever runs it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TASKS = ("get_info", "get_video", "get_audio")


def call(base_url: str, method: str, path: str, key: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One request to the API; (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def run(base_url: str, key: str, url: str, task: str = "get_info", timeout: float = 900) -> dict[str, Any]:
    """Submit one task, wait for it, and report outcome, seconds and the workers' versions."""
    started = time.monotonic()
    status, answer = call(base_url, "POST", f"/{task}", key, {"url": url})
    if status != 200:
        return {"outcome": "refused", "http_status": status, "error": (answer or {}).get("error")}
    task_id = answer["task_id"]
    while True:
        status, state = call(base_url, "GET", f"/status/{task_id}", key)
        if status != 200 or state.get("status") in ("completed", "error") or time.monotonic() - started > timeout:
            break
        time.sleep(1)
    _, health = call(base_url, "GET", "/health", None)
    return {
        "outcome": state.get("status") if status == 200 else f"HTTP {status}",
        "error": state.get("error") if status == 200 else None,
        "task_id": task_id,
        "seconds": round(time.monotonic() - started, 1),
        "workers": (health or {}).get("workers"),
        "versions": (health or {}).get("versions"),
    }


def main(env: dict[str, str]) -> int:
    url = env.get("URL", "")
    task = env.get("TASK") or "get_info"
    key = env.get("API_KEY") or env.get("ADMIN_API_KEY")
    base_url = env.get("BASE_URL") or f"http://127.0.0.1:{env.get('PORT', '5000')}"
    if not url or task not in TASKS or not key:
        print("usage: make canary URL=<page> [TASK=get_info|get_video|get_audio] [BASE_URL=...] API_KEY=<key>", file=sys.stderr)
        return 2
    report = run(base_url, key, url, task)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["outcome"] == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main(dict(os.environ)))
