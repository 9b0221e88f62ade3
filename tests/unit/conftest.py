"""API fixtures: the app on moto in-process, an admin key, and helpers to make keys."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.support.api import PUBLIC_ADDRESS, Api, build_api, fake_resolver
from tests.support.stack import DeployedStack

__all__ = ["PUBLIC_ADDRESS", "Api", "fake_resolver"]  # kept importable from here for the tests that do


@pytest.fixture
def make_api(aws: DeployedStack) -> Iterator[Any]:
    """Build an API over the deployed emulator with settings changes; yields a factory."""

    def build(resolver: Any = None, **changes: Any) -> Api:
        return build_api(aws, resolver, **changes)

    yield build


@pytest.fixture
def api(make_api: Any) -> Api:
    return make_api()
