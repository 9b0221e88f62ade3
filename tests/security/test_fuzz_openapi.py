"""Fuzzing: schemathesis drives every operation of the app's own OpenAPI document, in-process through ASGI.

schemathesis 4's pytest plugin does not run under pytest 9 (its lazy schemas rename pytest's node ids through an
attribute pytest 9 removed), so its Python API runs inside plain tests: one test per operation, each drawing cases
from the document's examples and from positive and negative generation, and sending every case three times — with
no or a generated (invalid) key, with an admin key, and with a key that holds a single permission.

Every built-in check runs on every answer: no 5xx; status code, content type, headers and body as documented;
schema-invalid requests refused and schema-valid ones accepted; no operation that ignores a missing or wrong key.
Generation is derandomized with a fixed seed, so a run repeats the last one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.support.api import Api

ADMIN_KEY = "fuzz-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"
MAX_EXAMPLES = 40  # per operation: 20 operations x 40 draws x 3 keys takes about 45 s on 2 cores
SEED = 20261128

SUBMISSIONS = ["POST /get_video", "POST /get_audio", "POST /get_live_video", "POST /get_live_audio", "POST /get_info", "POST /get_playlist"]
# Every operation the document must describe; the first test fails when the app grows one this list lacks.
OPERATIONS = [
    *SUBMISSIONS,
    "GET /status/{task_id}",
    "GET /files/{task_id}/{name}",
    "HEAD /files/{task_id}/{name}",
    "GET /files/{task_id}/{token}/{name}",
    "HEAD /files/{task_id}/{token}/{name}",
    "POST /create_key",
    "DELETE /delete_key/{name}",
    "GET /get_keys",
    "GET /get_key/{name}",
    "POST /check_permissions",
    "PUT /cookies",
    "GET /cookies",
    "DELETE /cookies",
    "GET /webhook_secret",
    "POST /webhook_secret",
    "GET /usage",
    "GET /usage/{name}",
    "GET /health",
]

CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "database": "none"},
        "operations": [
            {
                # A schema-valid submission can still be refused with 400: the URL must be http(s) and resolve to
                # public addresses, times must parse and be ordered. The document says so; no JSON Schema can.
                # Likewise a cookies string must be a Netscape cookies file.
                "include-name": [*SUBMISSIONS, "PUT /cookies"],
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403, 429]}},
            }
        ],
    }
)

CASES: Counter[str] = Counter()  # generated cases per operation
REQUESTS: Counter[int] = Counter()  # responses by status code


def summary() -> str | None:
    """One line for the end of the test run (printed by tests/security/conftest.py)."""
    if not CASES:
        return None
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(REQUESTS.items()))
    return f"schemathesis: {sum(CASES.values())} cases over {len(CASES)} operations, {sum(REQUESTS.values())} requests ({statuses})"


@pytest.fixture
def fuzz_api(make_api: Any) -> Api:
    # A high limit so that accepted submissions are explored, not only 429s.
    return make_api(admin_key=ADMIN_KEY, request_limit=10_000)


@pytest.fixture
def fuzz_schema(fuzz_api: Api) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_api.client.app, config=CONFIG)


def test_fuzz_the_document_lists_every_operation(fuzz_schema):
    labels = {result.ok().label for result in fuzz_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation_conforms_to_the_document(label, fuzz_api, fuzz_schema):
    # GIVEN an admin key, a one-permission key and the document's operation
    operation = fuzz_schema.find_operation_by_label(label)
    limited_key = fuzz_api.make_key("fuzz-limited", ["get_info"])
    strategy = st.one_of(
        *operation.get_strategies_from_examples(),
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exchange(case: Any) -> None:
        CASES[label] += 1
        # The fuzzer may delete the admin key or change its permissions through the API: put it back every time.
        restore_admin(fuzz_api)
        # WHEN the case is sent without a valid key, with the admin's and with the limited one
        # THEN no answer is a 5xx and every answer has a documented status, content type, headers and body
        for headers in (None, {"X-API-Key": ADMIN_KEY}, {"X-API-Key": limited_key}):
            response = case.call_and_validate(headers=headers)
            REQUESTS[response.status_code] += 1

    exchange()


def restore_admin(api: Api) -> None:
    from shared.bootstrap import ensure_admin_key

    ensure_admin_key(api.container.keys, ADMIN_KEY)
