"""The cleanup Lambda (scheduled every minute) and the local stack's cleanup timer."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any

from functions.cleanup.service import CleanupService
from shared import logs, metrics
from shared.aws import AWS_ERRORS, AwsClients
from shared.config import Settings, get_settings
from shared.errors import Unavailable
from shared.stores.media import MediaStore
from shared.stores.notify_queue import NotifyQueue
from shared.stores.queue import JobQueue
from shared.stores.results import ResultStore
from shared.stores.tasks import TaskStore
from shared.stores.usage import UsageStore
from shared.stores.workers import WorkerStore


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
        notify=NotifyQueue(clients.sqs, settings.notify_queue_url) if settings.notify_queue_url else None,
        results=ResultStore(clients.dynamodb, settings.results_table),
        usage=UsageStore(clients.dynamodb, settings.usage_table),
        workers=WorkerStore(clients.dynamodb, settings.workers_table),
    )


@lru_cache(maxsize=1)
def _service() -> CleanupService:
    """Built on the first invocation and reused while the Lambda container lives (JSON logs set up with it)."""
    logs.configure("cleanup")
    return build_service(get_settings())


# Report fields -> metric names (YtdlpHost namespace; CleanupErrorsAlarm watches CleanupErrors).
METRICS = {
    "tasks_removed": "TasksRemoved",
    "files_removed": "FilesRemoved",
    "dead_jobs_failed": "DeadJobsFailed",
    "dead_jobs_redriven": "DeadJobsRedriven",
    "waiting_tasks_failed": "WaitingTasksFailed",
    "shared_results_removed": "SharedResultsRemoved",
    "workers_removed": "WorkersRemoved",
    "errors": "CleanupErrors",
}


def run_once(service: CleanupService, stack: str) -> dict[str, int]:
    """One pass, its counts emitted as metrics; a pass that cannot even start counts as one error."""
    try:
        report = asdict(service.run())
    except (Unavailable, *AWS_ERRORS):
        metrics.emit({"CleanupErrors": 1}, stack)
        raise
    metrics.emit({METRICS[name]: value for name, value in report.items()}, stack)
    return report


def lambda_handler(event: Any, context: Any) -> dict[str, int]:
    """Scheduled entry point: one cleanup pass; returns what it did."""
    return run_once(_service(), get_settings().stack_name)
