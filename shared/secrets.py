"""Secrets an operator configures (file-link signing key, proxy URLs, cookies...): one small interface.

A secret is named by one setting whose value is either
- the ARN of a Secrets Manager secret (what template.yaml sets in AWS): its SecretString is read,
- `file:<path>` (the local stack: a file under STATE_DIR or the operator's own), read from disk, or
- the value itself (an environment variable, for a quick local run).

Values are cached for `ttl` seconds, so a rotated secret is picked up without a restart, and held in `Secret`,
whose repr and str hide the value: no log line or error message can print one by accident.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import SecretStr

from shared.aws import AWS_ERRORS, error_code
from shared.errors import Unavailable

_ARN_PREFIX = "arn:"
_FILE_PREFIX = "file:"


class Secret:
    """A secret value; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def reference_kind(ref: str) -> str:
    """'arn', 'file' or 'value': where a setting's secret comes from."""
    if ref.startswith(_ARN_PREFIX) and ":secretsmanager:" in ref:
        return "arn"
    if ref.startswith(_FILE_PREFIX):
        return "file"
    return "value"


class SecretSource:
    """Reads secrets by reference (ARN, file: or value), caching each for `ttl` seconds."""

    def __init__(self, secretsmanager: Any | None = None, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._sm = secretsmanager  # built lazily by the caller (AwsClients.lazy), only needed for ARNs
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Secret | None]] = {}
        self._lock = threading.Lock()

    def get(self, ref: SecretStr | str | None) -> Secret | None:
        """The secret named by `ref` (None when `ref` is empty, or the file / secret string is empty)."""
        text = ref.get_secret_value() if isinstance(ref, SecretStr) else ref
        if not text:
            return None
        now = self._clock()
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None and cached[0] > now:
                return cached[1]
        value = self._read(text)
        with self._lock:
            self._cache[text] = (now + self._ttl, value)
        return value

    def invalidate(self) -> None:
        """Forget cached values (e.g. after a rotation this process made itself)."""
        with self._lock:
            self._cache.clear()

    def _read(self, text: str) -> Secret | None:
        kind = reference_kind(text)
        if kind == "value":
            return Secret(text)
        if kind == "file":
            path = Path(text[len(_FILE_PREFIX):]).expanduser()
            try:
                data = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            except OSError as err:
                raise Unavailable(f"The secret file {path.name} cannot be read ({type(err).__name__})") from err
            return Secret(data.strip()) if data.strip() else None
        if self._sm is None:
            raise Unavailable("A secret is stored in Secrets Manager but no client was given to read it")
        try:
            answer = self._sm.get_secret_value(SecretId=text)
        except AWS_ERRORS as err:
            raise Unavailable(f"The secret store is unavailable ({error_code(err) or 'no answer'}), try again later") from err
        value = answer.get("SecretString") or ""
        return Secret(value) if value else None
