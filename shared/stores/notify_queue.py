"""The notify queue (SQS): one message per webhook event attempt, read by the notifier (functions/notify).

A message names the task and the event, the event's webhook-id (the same on every retry), how many attempts were
made, and `wait`: seconds still to wait before the next attempt. SQS delays a message by at most 900 s, so a
longer wait is a chain of messages, each re-sent with what is left.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from shared.stores import unavailable_on_failure
from shared.webhooks import EVENT_TYPES, event_id, hop


@dataclass(frozen=True)
class Event:
    """One webhook event on its way (never the URL or a secret: those are read when it is sent)."""

    task_id: str
    type: str
    webhook_id: str
    attempts: int = 0
    wait: int = 0

    @classmethod
    def parse(cls, body: str) -> "Event | None":
        """The event a message carries, or None for a malformed one."""
        try:
            data = json.loads(body)
            event = cls(str(data["task_id"]), str(data["type"]), str(data["webhook_id"]), int(data.get("attempts", 0)), int(data.get("wait", 0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return event if event.type in EVENT_TYPES and event.task_id and event.attempts >= 0 and event.wait >= 0 else None


@dataclass(frozen=True)
class Received:
    event: Event | None
    receipt_handle: str


class NotifyQueue:
    """Sends and receives webhook events."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def announce(self, task_id: str, event_type: str) -> Event:
        """Queue the first attempt of a new event for `task_id`; Unavailable on failure."""
        event = Event(task_id, event_type, event_id(task_id))
        self.send(event)
        return event

    def send(self, event: Event) -> None:
        """Queue `event`; a wait over 900 s is sent as its first hop (the notifier re-sends the rest)."""
        delay, left = hop(event.wait)
        body = json.dumps({**asdict(event), "wait": left})
        with unavailable_on_failure("The notify queue"):
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)

    def receive(self, max_messages: int = 10, wait_seconds: int = 20) -> list[Received]:
        """Long-poll for up to 10 events."""
        with unavailable_on_failure("The notify queue"):
            messages = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=max(1, min(10, max_messages)), WaitTimeSeconds=wait_seconds).get("Messages", [])
        return [Received(Event.parse(m["Body"]), m["ReceiptHandle"]) for m in messages]

    def delete(self, receipt_handle: str) -> None:
        with unavailable_on_failure("The notify queue"):
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)
