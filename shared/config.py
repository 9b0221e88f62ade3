"""One settings object, read from the environment (names match what template.yaml sets)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration; every field is an environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # What the original kept in config.py.
    task_cleanup_time: float = Field(10, gt=0, description="Minutes a finished task and its files are kept; also the rate-limit window.")
    request_limit: int = Field(20, ge=1, description="Task-creating requests allowed per key per window.")
    max_workers: int = Field(4, ge=1, le=64, description="Jobs one worker process runs at once.")

    admin_api_key: str | None = Field(None, description="When set, a key named 'admin' with this value and every permission is ensured.")
    allow_private_networks: bool = Field(False, description="Allow URLs that resolve to loopback/private/non-global addresses.")

    # API: keyless file links and submission checks.
    file_link_secret: SecretStr | None = Field(None, description="Key signing /status file links: a Secrets Manager ARN, file:<path> or the value (see shared.secrets).")
    dns_timeout: float = Field(2.0, gt=0, le=30, description="Seconds a submitted URL's host may take to resolve.")
    key_cache_seconds: float = Field(5, ge=0, le=300, description="Seconds an API process remembers a key that authenticated (0: look it up on every request); a deleted key or changed permissions take effect within this time.")
    info_inline_max_bytes: int = Field(4 * 1024**2, ge=1, description="Largest whole info.json /files answers itself; bigger ones redirect to storage (Lambda answers at most 6 MB).")

    # Shared results (shared/sharing.py): identical requests share one download and one stored object.
    result_sharing: Literal["global", "key", "off"] = Field("global", description="Share results across all keys (global), within one key (key), or not at all (off).")

    # Resource names (outputs of template.yaml).
    keys_table: str = "ytdlp-keys"
    tasks_table: str = "ytdlp-tasks"
    rate_limits_table: str = "ytdlp-rate-limits"
    cookies_table: str = "ytdlp-cookies"
    workers_table: str = "ytdlp-workers"
    results_table: str = "ytdlp-results"
    usage_table: str = "ytdlp-usage"
    jobs_queue_url: str = ""
    dead_letter_queue_url: str = ""
    notify_queue_url: str = Field("", description="Webhook events (task.completed, task.failed) for the notifier (functions/notify).")
    media_bucket: str = "ytdlp-media"
    keys_kms_key_id: str = "alias/ytdlp-api-keys"

    stack_name: str = Field("local", description="The stack's name: the Stack dimension of the metrics (shared/metrics.py).")
    aws_region: str = Field("us-east-1", validation_alias="AWS_REGION")
    aws_endpoint_url: str | None = Field(None, description="Emulator endpoint; unset in AWS. boto3 reads it itself too.")
    # Per-service endpoints (boto3's own names), over AWS_ENDPOINT_URL: the local stack serves DynamoDB and S3 from disk.
    aws_endpoint_url_dynamodb: str | None = None
    aws_endpoint_url_s3: str | None = None

    # Worker.
    job_timeout: int = Field(3600, ge=1, description="Seconds a job may run (live jobs: their duration plus this margin, see worker).")
    live_timeout_margin: int = Field(300, ge=0, description="Seconds added to a live recording's duration for its time limit.")
    shutdown_grace: int = Field(30, ge=0, description="Seconds running jobs get to finish after SIGTERM.")
    visibility_timeout: int = Field(60, ge=10, description="Seconds a received job stays hidden; the worker extends it while a job runs.")
    max_attempts: int = Field(3, ge=1, description="Deliveries of one job before the task fails (the queue's maxReceiveCount).")
    waiting_timeout: int = Field(86400, ge=60, description="Seconds a task may stay unfinished without a live worker before the cleanup fails it (a lost job).")
    job_disk_limit: int | None = Field(None, ge=1, description="Bytes of scratch disk one job may use (default: the free space shared by MAX_WORKERS).")
    scratch_dir: str = Field("/tmp/ytdlp-worker", description="Parent folder of the per-job scratch folders.")
    socket_timeout: float = Field(20, gt=0)
    max_filesize: int = Field(4 * 1024**3, ge=1, description="Largest output a job may produce, in bytes (default 4 GiB).")
    max_duration: float = Field(4 * 3600, gt=0, description="Longest media (or clip) a non-live job may download, in seconds (default 4 h).")
    # Playlists (get_playlist) and SponsorBlock.
    playlist_max_items: int = Field(50, ge=1, le=500, description="Most entries one get_playlist task downloads; a longer playlist is cut (the status says so).")
    sponsorblock_api: str = Field("https://sponsor.ajay.app", description="Base URL of the SponsorBlock API (sponsorblock_remove).")

    # Webhooks (functions/notify).
    webhook_retry_delays: str = Field(
        "5,300,1800,7200,18000,36000,50400,72000,86400",
        pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        description="Seconds before each retry of a failed webhook delivery, comma-separated (Standard Webhooks' schedule).",
    )
    webhook_timeout: float = Field(15, gt=0, le=60, description="Seconds each socket step of a webhook delivery may take.")

    # Local stack.
    port: int = 5000
    api_processes: int = Field(1, ge=1, le=16, description="Local stack: processes serving the API, sharing PORT (SO_REUSEPORT).")
    api_reuse_port: bool = Field(False, description="Bind PORT with SO_REUSEPORT, so several API processes share it.")
    worker_processes: int = Field(1, ge=0)

    @property
    def webhook_delays(self) -> tuple[int, ...]:
        """WEBHOOK_RETRY_DELAYS as seconds: the wait after the 1st, 2nd... failed attempt."""
        return tuple(int(part) for part in self.webhook_retry_delays.split(","))

    @property
    def task_ttl_seconds(self) -> int:
        """How long a finished task lives, in seconds."""
        return max(1, int(self.task_cleanup_time * 60))


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
