"""Shared fixtures: fake AWS credentials everywhere, the emulator in-process or as a server, the stack deployed from template.yaml."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.support.api import Api, build_api
from tests.support.stack import FAKE_AWS_ENV, DeployedStack, deploy_stack


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach AWS: fake credentials, and no endpoint inherited from the shell."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ADMIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(fake_aws_credentials: None) -> Iterator[DeployedStack]:
    """moto in-process with template.yaml's resources deployed; clients and settings pointing at them."""
    from moto import mock_aws

    from infra.emulator import make_dynamodb_atomic

    make_dynamodb_atomic()
    with mock_aws():
        yield deploy_stack(endpoint_url=None)


@pytest.fixture
def make_api(aws: DeployedStack) -> Iterator[Any]:
    """Build an API over the deployment (`aws`, whichever a package defines) with settings changes; yields a factory."""

    def build(resolver: Any = None, **changes: Any) -> Api:
        return build_api(aws, resolver, **changes)

    yield build


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api()
