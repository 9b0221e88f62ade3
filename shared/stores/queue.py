"""The jobs queue (SQS): one message per task, carrying only its id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.stores import unavailable_on_failure


@dataclass(frozen=True)
class Job:
    """A received message: the task it names and what SQS says about its delivery."""

    task_id: str
    receipt_handle: str
    message_id: str
    receive_count: int


class JobQueue:
    """Sends, receives and settles job messages."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, task_id: str) -> None:
        """Queue the job for `task_id`; Unavailable when SQS does not take it."""
        with unavailable_on_failure("The job queue"):
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"task_id": task_id}))

    def receive(self, max_messages: int, wait_seconds: int = 20, visibility_timeout: int | None = None) -> list[Job]:
        """Long-poll for up to `max_messages` (at most 10) jobs."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max(1, min(10, max_messages)),
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        messages = self._sqs.receive_message(**kwargs).get("Messages", [])
        jobs = []
        for message in messages:
            try:
                task_id = str(json.loads(message["Body"])["task_id"])
            except (ValueError, KeyError, TypeError):
                task_id = ""  # the worker drops malformed messages
            jobs.append(
                Job(
                    task_id=task_id,
                    receipt_handle=message["ReceiptHandle"],
                    message_id=message["MessageId"],
                    receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                )
            )
        return jobs

    def delete(self, job: Job) -> None:
        """The job is done (or abandoned for good): remove its message."""
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=job.receipt_handle)

    def extend(self, job: Job, seconds: int) -> None:
        """Keep the message hidden for `seconds` more (heartbeat); 0 hands it back at once."""
        self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=job.receipt_handle, VisibilityTimeout=seconds)
