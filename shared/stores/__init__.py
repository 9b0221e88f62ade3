"""Adapters to AWS: each takes its client and resource name and speaks the domain's language."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.errors import Unavailable


@contextmanager
def unavailable_on_failure(what: str) -> Iterator[None]:
    """Turn any AWS failure inside the block into Unavailable (a 503 at the API)."""
    try:
        yield
    except AWS_ERRORS as err:
        raise Unavailable(f"{what} is unavailable, try again later") from err


def applied(write: Callable[[], Any]) -> bool:
    """Run one conditional write: True when it applied, False when its condition did not hold (other failures raise)."""
    try:
        write()
    except AWS_ERRORS as err:
        if is_condition_failure(err):
            return False
        raise
    return True
