"""The jobs queue (SQS): one message per task, carrying its id and a job id that outlives redeliveries.

The job id stays the same when a message is put off (sent afresh, then the old one deleted), so the task's lease
holder (`<worker id>/<job id>`) still recognises its own job, and SQS's receive count, which moves a message to
the dead-letter queue, only grows for deliveries that were really attempts.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from shared.aws import AWS_ERRORS, error_code
from shared.stores import unavailable_on_failure

# What SQS answers when a receipt handle's message was deleted or put off in the meantime.
_GONE = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"}


@dataclass(frozen=True)
class Job:
    """A received message: the task it names and what SQS says about its delivery."""

    task_id: str
    receipt_handle: str
    message_id: str
    receive_count: int
    job_id: str = ""

    @property
    def ident(self) -> str:
        """The job's identity across put-offs (the message id for messages sent without a job id)."""
        return self.job_id or self.message_id


# SQS's largest DelaySeconds.
MAX_DELAY = 900


class JobQueue:
    """Sends, receives and settles job messages."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, task_id: str, job_id: str | None = None, delay: int = 0) -> None:
        """Queue the job for `task_id` (a new job id unless given), hidden for `delay` seconds; Unavailable on failure."""
        body = json.dumps({"task_id": task_id, "job_id": job_id or secrets.token_hex(8)})
        with unavailable_on_failure("The job queue"):
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=max(0, min(MAX_DELAY, int(delay))))

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
                body = json.loads(message["Body"])
                task_id, job_id = str(body["task_id"]), str(body.get("job_id") or "")
            except (ValueError, KeyError, TypeError, AttributeError):
                task_id, job_id = "", ""  # the worker drops malformed messages
            jobs.append(
                Job(
                    task_id=task_id,
                    receipt_handle=message["ReceiptHandle"],
                    message_id=message["MessageId"],
                    receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                    job_id=job_id,
                )
            )
        return jobs

    def delete(self, job: Job) -> None:
        """The job is done (or abandoned for good): remove its message."""
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=job.receipt_handle)

    def extend(self, job: Job, seconds: int) -> bool:
        """Keep the message hidden for `seconds` more (heartbeat); 0 hands it back at once. False when the message
        is gone (deleted, or put off by another worker: a fresh copy of the job is on its way)."""
        try:
            self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=job.receipt_handle, VisibilityTimeout=seconds)
        except AWS_ERRORS as err:
            if error_code(err) in _GONE:
                return False
            raise
        return True

    def put_off(self, job: Job, seconds: int) -> bool:
        """Show the job again in `seconds` (at most 15 minutes) without using up an attempt: a fresh message with
        the same job id, then the old one deleted. If the send fails, the old message stays and comes back."""
        self.send(job.task_id, job.ident, seconds)
        self.delete(job)
        return True

    def redrive(self, job: Job, target: "JobQueue") -> None:
        """Move a (dead-letter) message to `target` as a fresh delivery of the same job."""
        target.send(job.task_id, job.ident)
        self.delete(job)
