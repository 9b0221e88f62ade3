"""The notifier as a process (`python -m functions.notify`, started by `make run`): long-poll the notify queue,
hand each batch to the same service the Lambda uses, delete what was handled, until SIGTERM/SIGINT.

A message whose handling failed is left alone: it shows again after the queue's visibility timeout, and goes to
the notify dead-letter queue after maxReceiveCount tries, as in AWS.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from pydantic import ValidationError

from functions.notify.handler import build_service, handle_all
from functions.notify.service import NotifyService
from shared import logs
from shared.aws import AwsClients
from shared.config import Settings
from shared.errors import Unavailable
from shared.stores.notify_queue import NotifyQueue

log = logging.getLogger(__name__)


# Long polls return as soon as a message arrives; a short one only bounds how long a stop waits for the poll in flight.
POLL_SECONDS = 5


def run(service: NotifyService, queue: NotifyQueue, stop: threading.Event, wait_seconds: int = POLL_SECONDS) -> None:
    """Receive and handle events until `stop` is set."""
    backoff = 1.0
    while not stop.is_set():
        try:
            received = queue.receive(10, wait_seconds)
        except Unavailable as err:
            log.warning("notify queue unavailable, retrying", extra={"error": str(err), "retry_in": backoff})
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        backoff = 1.0
        handles = {m.receipt_handle: m for m in received}
        handle_all(service, ((h, m.event) for h, m in handles.items()), on_done=lambda h: _delete(queue, h))


def _delete(queue: NotifyQueue, receipt_handle: str) -> None:
    try:
        queue.delete(receipt_handle)
    except Unavailable:
        log.warning("could not delete a handled notify message; it will be seen again (and found done)")


def main() -> int:
    """Build the service from the environment and run until a signal."""
    logs.configure("notify")
    try:
        settings = Settings()
    except ValidationError as err:
        for problem in err.errors():
            log.error("invalid setting", extra={"setting": ".".join(str(p) for p in problem["loc"]).upper(), "reason": problem["msg"]})
        return 2
    if not settings.notify_queue_url:
        log.error("NOTIFY_QUEUE_URL is not set")
        return 2
    clients = AwsClients.from_settings(settings, sqs_read_timeout=POLL_SECONDS + 10)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("notifier started")
    run(build_service(settings, clients), NotifyQueue(clients.sqs, settings.notify_queue_url), stop)
    log.info("notifier stopped")
    return 0
