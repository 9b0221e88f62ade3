"""The operator's cookies (COOKIES_FILE), read by the worker and kept briefly, so that jobs do not each read them.

A job runs in its own child process, which forgets everything when it ends; the worker process reads the file (or
the Secrets Manager secret) at most once per `ttl` and hands the text to each job in its JobSpec. A job that gets
none (nothing configured, or the read failed here) reads them itself, which reports a missing or broken file.
"""

from __future__ import annotations

import logging

from functions.worker.settings import WorkerSettings
from shared.aws import make_client
from shared.cookies import reference
from shared.secrets import Secret, SecretSource, reference_kind

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class OperatorCookies:
    def __init__(self, settings: WorkerSettings, ttl: float = CACHE_SECONDS) -> None:
        self._ref = reference(settings.cookies_file)
        client = make_client("secretsmanager", settings) if self._ref and reference_kind(self._ref) == "arn" else None
        self._source = SecretSource(client, ttl=ttl)

    def get(self) -> Secret | None:
        """The cookies text, or None (none configured, or unreadable now: the job then reads them itself)."""
        if self._ref is None:
            return None
        try:
            return self._source.get(self._ref)
        except Exception as err:  # the job's own read reports it to the task
            log.warning("could not read the operator's cookies", extra={"error_type": type(err).__name__})
            return None
