"""The worker's settings: the shared Settings plus the few knobs only the worker reads."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from shared.config import Settings


class WorkerSettings(Settings):
    """Settings of one worker process; every field is an environment variable of the same name in upper case."""

    retry_backoff: float = Field(10, ge=0, description="Seconds per attempt a job waits before its retry (attempt 2 waits 2x).")
    progress_interval: float = Field(1.0, gt=0, description="Least seconds between two progress writes of one task.")
    receive_wait: int = Field(20, ge=0, le=20, description="SQS long-poll seconds (WaitTimeSeconds).")
    fragment_concurrency: int = Field(
        4, ge=1, le=16, description="HLS/DASH fragments one job fetches at once (yt-dlp's concurrent_fragment_downloads)."
    )
    upload_concurrency: int = Field(4, ge=1, le=10, description="Parts of one file a job uploads to S3 at once (multipart).")
    upload_ahead: bool = Field(
        True, description="Upload a single-file download's parts while it is still being written (checked against the final file)."
    )
    job_nice: int = Field(
        10, ge=0, le=19, description="How much lower than the worker a job (yt-dlp, ffmpeg) runs: a backlog slows jobs, not the API."
    )

    # Egress (read through shared.secrets: a Secrets Manager ARN in AWS, `file:<path>` or the value locally).
    proxy_urls: SecretStr | None = Field(None, description="Upstream proxies, comma-separated (they carry credentials).")
    pot_provider_url: str | None = Field(None, description="Base URL of a PO-token provider server (bgutil), e.g. a sidecar.")

    # Sites (docs/sites.md). Cookies: a Netscape cookies file by path (or `file:<path>`), or a Secrets Manager ARN.
    cookies_file: SecretStr | None = Field(None, description="Operator cookies (Netscape format): a path locally, a Secrets Manager ARN in AWS.")
    ytdlp_extractor_args: str | None = Field(
        None, description="yt-dlp extractor arguments, 'IE:KEY=V1,V2;KEY2=V' (several separated by spaces), e.g. youtube:player_client=default,-tv"
    )
    ytdlp_sleep_requests: float = Field(0, ge=0, le=60, description="Seconds yt-dlp sleeps between the requests of one extraction (pacing).")

    @field_validator("pot_provider_url")
    @classmethod
    def _check_pot_provider_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("POT_PROVIDER_URL must be an http(s) URL such as http://127.0.0.1:4416")
        return value.rstrip("/")

    @field_validator("ytdlp_extractor_args")
    @classmethod
    def _check_extractor_args(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        parse_extractor_args(value)  # raises ValueError with the reason
        return value.strip()

    @property
    def extractor_args(self) -> dict[str, dict[str, list[str]]]:
        """YTDLP_EXTRACTOR_ARGS as yt-dlp's `extractor_args` option ({} when unset)."""
        return parse_extractor_args(self.ytdlp_extractor_args or "")

    @property
    def heartbeat_interval(self) -> float:
        """How often running jobs' messages and leases are extended: a third of the visibility window."""
        return max(1.0, self.visibility_timeout / 3)


_IE_KEY = re.compile(r"^[a-z0-9][a-z0-9_:-]*$")
_ARG_KEY = re.compile(r"^[a-z0-9_-]+$")


def parse_extractor_args(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse 'IE:KEY=V1,V2;KEY2=V IE2:...' the way yt-dlp's --extractor-args does; ValueError names what is wrong."""
    result: dict[str, dict[str, list[str]]] = {}
    for item in text.split():
        ie_key, sep, args = item.partition(":")
        ie_key = ie_key.lower()
        if not sep or not ie_key or not _IE_KEY.match(ie_key) or not args:
            raise ValueError(f"YTDLP_EXTRACTOR_ARGS: {item!r} is not 'EXTRACTOR:KEY=VALUE[;KEY=VALUE]', e.g. youtube:player_client=default,-tv")
        parsed = result.setdefault(ie_key, {})
        for arg in args.split(";"):
            key, eq, values = arg.partition("=")
            key = key.strip().lower().replace("-", "_")
            if not eq or not _ARG_KEY.match(key):
                raise ValueError(f"YTDLP_EXTRACTOR_ARGS: {arg!r} in {ie_key!r} is not KEY=VALUE")
            parsed[key] = [v.strip() for v in values.split(",")]
    return result


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """The process's worker settings, read once."""
    return WorkerSettings()
