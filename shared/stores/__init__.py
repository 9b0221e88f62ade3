"""Adapters to AWS: each takes its client and resource name and speaks the domain's language."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from shared.aws import AWS_ERRORS
from shared.errors import Unavailable


@contextmanager
def unavailable_on_failure(what: str) -> Iterator[None]:
    """Turn any AWS failure inside the block into Unavailable (a 503 at the API)."""
    try:
        yield
    except AWS_ERRORS as err:
        raise Unavailable(f"{what} is unavailable, try again later") from err
