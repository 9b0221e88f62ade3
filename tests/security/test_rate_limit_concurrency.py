"""Exact rate limits under concurrency, against the running stack (`python -m infra.local`, what `make run` starts).

60 submissions race from 30 threads against REQUEST_LIMIT=20: exactly 20 are accepted and 40 refused with 429 and a
Retry-After that points at the moment the oldest accepted request leaves the window. No worker runs, so nothing is
downloaded: the submitted URL (on 127.0.0.1) is never fetched.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from tests.support.stack import LocalStackProcess, request

pytestmark = pytest.mark.integration

ADMIN_KEY = "rate-limit-admin-key-0123456789abcdefghijklmnop"
LIMIT = 20
CLEANUP_MINUTES = 10
WINDOW = CLEANUP_MINUTES * 60
SUBMISSIONS = 60
THREADS = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(
        env_overrides={
            "ADMIN_API_KEY": ADMIN_KEY,
            "REQUEST_LIMIT": str(LIMIT),
            "TASK_CLEANUP_TIME": str(CLEANUP_MINUTES),
            "ALLOW_PRIVATE_NETWORKS": "true",
            "WORKER_PROCESSES": "0",
        },
        log_dir=tmp_path_factory.mktemp("rate-limit-stack"),
    )
    process.start()
    yield process
    process.stop()


@dataclass
class Outcome:
    status: int
    retry_after: str | None
    body: dict[str, Any]
    sent: float
    answered: float


def submit(base_url: str, key: str, start: threading.Barrier, n: int) -> Outcome:
    data = json.dumps({"url": f"http://127.0.0.1:9/never-fetched/{n}"}).encode()
    req = urllib.request.Request(base_url + "/get_info", data=data, method="POST", headers={"X-API-Key": key, "Content-Type": "application/json"})
    start.wait()
    sent = time.time()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        status, headers, payload = err.code, err.headers, err.read()
    return Outcome(status, headers.get("Retry-After"), json.loads(payload), sent, time.time())


def test_rate_limit_is_exact_under_concurrent_submissions(stack):
    # GIVEN a fresh key and REQUEST_LIMIT=20 per TASK_CLEANUP_TIME window
    status, _, created = request("POST", stack.base_url + "/create_key", key=ADMIN_KEY, body={"name": "racer", "permissions": ["get_info"]})
    assert status == 201, created
    key = created["key"]
    # WHEN 60 submissions race from 30 threads (each group released together)
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(lambda n: submit(stack.base_url, key, start, n), range(SUBMISSIONS)))
    # THEN exactly 20 are accepted and 40 refused with 429, nothing else
    accepted = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status == 429]
    assert (len(accepted), len(refused)) == (LIMIT, SUBMISSIONS - LIMIT), sorted(o.status for o in outcomes)
    assert len({o.body["task_id"] for o in accepted}) == LIMIT
    # AND each refusal's Retry-After is when the oldest accepted request leaves the window, as seen from its answer:
    # that request was taken between the first send and its own answer, the refusal decided between its send and answer.
    first_sent = min(o.sent for o in outcomes)
    oldest_answered = min(o.answered for o in accepted)
    for o in refused:
        assert o.body == {"error": "Rate limit exceeded. Try again later."}
        retry_after = int(o.retry_after or "0")
        assert 1 <= retry_after <= WINDOW
        earliest = math.ceil(first_sent + WINDOW - o.answered)
        latest = math.ceil(oldest_answered + WINDOW - o.sent)
        assert earliest - 1 <= retry_after <= latest + 1, (retry_after, earliest, latest)
    # AND the accepted tasks exist, waiting, while a later submission is still refused
    for o in accepted[:3]:
        status, _, task = request("GET", f"{stack.base_url}/status/{o.body['task_id']}", key=key)
        assert status == 200 and task["status"] == "waiting"
    status, headers, _ = request("POST", stack.base_url + "/get_info", key=key, body={"url": "http://127.0.0.1:9/late"})
    retry_after = {name.lower(): value for name, value in headers.items()}["retry-after"]
    assert status == 429 and 1 <= int(retry_after) <= WINDOW
    # AND another key has its own budget
    status, _, _ = request("POST", stack.base_url + "/get_info", key=ADMIN_KEY, body={"url": "http://127.0.0.1:9/admin"})
    assert status == 200
