"""The notifier Lambda: an SQS event of webhook messages -> one delivery attempt each, side by side.

A message whose handling fails (the task store or KMS is down) is reported back as a batch item failure: SQS shows
it again after its visibility timeout and moves it to the notify dead-letter queue after maxReceiveCount tries.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Callable, Iterable

from functions.api.links import FileLinks
from functions.notify.sender import Sender
from functions.notify.service import NotifyService
from shared import logs
from shared.aws import AwsClients
from shared.config import Settings, get_settings
from shared.secrets import SecretSource
from shared.stores.media import MediaStore
from shared.stores.notify_queue import Event, NotifyQueue
from shared.stores.tasks import TaskStore
from shared.stores.webhook_secrets import WebhookSecretStore
from shared.urls import Resolver, system_resolver

log = logging.getLogger(__name__)

PARALLEL = 10  # one SQS batch at most: a slow receiver (15 s per step) holds up no other


def build_service(settings: Settings, clients: AwsClients | None = None, resolver: Resolver = system_resolver) -> NotifyService:
    """The notifier over the configured stack."""
    clients = clients or AwsClients.from_settings(settings)
    return NotifyService(
        TaskStore(clients.dynamodb, settings.tasks_table),
        WebhookSecretStore(clients.dynamodb, settings.keys_table, clients.lazy("kms"), settings.keys_kms_key_id),
        NotifyQueue(clients.sqs, settings.notify_queue_url),
        Sender(settings.allow_private_networks, settings.webhook_timeout, resolver),
        MediaStore(clients.s3, settings.media_bucket),
        FileLinks(SecretSource(clients.lazy("secretsmanager")), settings.file_link_secret),
        settings.webhook_delays,
    )


def handle_all(service: NotifyService, items: Iterable[tuple[str, Event | None]], on_done: Callable[[str], None] | None = None) -> list[str]:
    """Handle (id, event) pairs side by side; returns the ids whose handling failed (to be tried again)."""

    def one(item: tuple[str, Event | None]) -> str | None:
        ident, event = item
        if event is None:
            log.warning("malformed notify message dropped", extra={"message_id": ident})
        else:
            try:
                service.handle(event)
            except Exception:
                log.exception("webhook message failed; it will come back", extra={"task_id": event.task_id})
                return ident
        if on_done is not None:
            on_done(ident)
        return None

    batch = list(items)
    if not batch:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(batch)), thread_name_prefix="notify") as pool:
        return [ident for ident in pool.map(one, batch) if ident is not None]


@lru_cache(maxsize=1)
def _service() -> NotifyService:
    """Built on the first invocation and reused while the Lambda container lives."""
    logs.configure("notify")
    return build_service(get_settings())


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """SQS event source entry point (ReportBatchItemFailures)."""
    records = event.get("Records", [])
    failed = handle_all(_service(), ((r["messageId"], Event.parse(r.get("body", ""))) for r in records))
    return {"batchItemFailures": [{"itemIdentifier": ident} for ident in failed]}
