"""Security fixtures: one emulated deployment for the whole package (deploying takes seconds), emptied before each test.

`aws` means what it means elsewhere (so the root `make_api` and `api` work unchanged); only the deployment is shared
and wiped between tests, which keeps this package's runtime inside its budget.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import pytest

from tests.support.stack import FAKE_AWS_ENV, DeployedStack, deploy_stack
from tests.support.state import wipe


@pytest.fixture(scope="package")
def deployment() -> Iterator[DeployedStack]:
    """moto in-process with template.yaml deployed once for the package."""
    from moto import mock_aws

    from infra.emulator import make_dynamodb_atomic

    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ADMIN_API_KEY"):
            env.delenv(name, raising=False)
        make_dynamodb_atomic()
        with mock_aws():
            yield deploy_stack(endpoint_url=None)


@pytest.fixture
def aws(deployment: DeployedStack) -> DeployedStack:
    """The package's deployment with every table and the bucket emptied (queues are compared by counts instead)."""
    wipe(deployment)
    return deployment


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How much the fuzzer ran, when it ran."""
    fuzz = sys.modules.get("tests.security.test_fuzz_openapi")
    line = fuzz.summary() if fuzz is not None else None
    if line:
        terminalreporter.write_sep("-", "fuzzing")
        terminalreporter.write_line(line)
