"""The cleanup Lambda (scheduled every minute) and the local stack's cleanup timer."""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import lru_cache
from typing import Any

from functions.cleanup.service import CleanupService
from shared.aws import AwsClients
from shared.config import Settings, get_settings
from shared.stores.media import MediaStore
from shared.stores.queue import JobQueue
from shared.stores.tasks import TaskStore

logging.getLogger().setLevel(logging.INFO)


def build_service(settings: Settings, clients: AwsClients | None = None) -> CleanupService:
    clients = clients or AwsClients.from_settings(settings)
    dead_letters = JobQueue(clients.sqs, settings.dead_letter_queue_url) if settings.dead_letter_queue_url else None
    jobs = JobQueue(clients.sqs, settings.jobs_queue_url) if settings.jobs_queue_url else None
    return CleanupService(
        TaskStore(clients.dynamodb, settings.tasks_table),
        MediaStore(clients.s3, settings.media_bucket),
        dead_letters,
        settings.task_ttl_seconds,
        settings.max_attempts,
        jobs=jobs,
        waiting_seconds=settings.waiting_timeout,
    )


@lru_cache(maxsize=1)
def _service() -> CleanupService:
    """Built on the first invocation and reused while the Lambda container lives."""
    return build_service(get_settings())


def lambda_handler(event: Any, context: Any) -> dict[str, int]:
    """Scheduled entry point: one cleanup pass; returns what it removed."""
    return asdict(_service().run())
