"""The worker's settings: the shared Settings plus the few knobs only the worker reads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr

from shared.config import Settings


class WorkerSettings(Settings):
    """Settings of one worker process; every field is an environment variable of the same name in upper case."""

    retry_backoff: float = Field(10, ge=0, description="Seconds per attempt a job waits before its retry (attempt 2 waits 2x).")
    progress_interval: float = Field(1.0, gt=0, description="Least seconds between two progress writes of one task.")
    receive_wait: int = Field(20, ge=0, le=20, description="SQS long-poll seconds (WaitTimeSeconds).")

    # Egress (read through shared.secrets: a Secrets Manager ARN in AWS, `file:<path>` or the value locally).
    proxy_urls: SecretStr | None = Field(None, description="Upstream proxies, comma-separated (they carry credentials).")
    pot_provider_url: str | None = Field(None, description="Base URL of a PO-token provider server (bgutil), e.g. a sidecar.")

    @property
    def heartbeat_interval(self) -> float:
        """How often running jobs' messages and leases are extended: a third of the visibility window."""
        return max(1.0, self.visibility_timeout / 3)


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """The process's worker settings, read once."""
    return WorkerSettings()
