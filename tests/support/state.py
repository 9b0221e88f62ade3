"""What the stores hold, for tests that prove a request changed nothing (or exactly one thing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.stack import DeployedStack


def tables(stack: DeployedStack) -> tuple[str, ...]:
    s = stack.settings
    return (s.keys_table, s.tasks_table, s.rate_limits_table, s.cookies_table)


def scan_all(stack: DeployedStack, table: str) -> list[dict[str, Any]]:
    """Every item of a table (all pages)."""
    db = stack.clients.dynamodb
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = db.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wipe(stack: DeployedStack) -> None:
    """Delete every item of every table and every object of the media bucket."""
    db = stack.clients.dynamodb
    for table in tables(stack):
        key_names = [k["AttributeName"] for k in db.describe_table(TableName=table)["Table"]["KeySchema"]]
        for item in scan_all(stack, table):
            db.delete_item(TableName=table, Key={name: item[name] for name in key_names})
    s3 = stack.clients.s3
    listing = s3.list_objects_v2(Bucket=stack.settings.media_bucket).get("Contents", [])
    if listing:
        s3.delete_objects(Bucket=stack.settings.media_bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listing], "Quiet": True})


def queue_depth(stack: DeployedStack, queue_url: str | None = None) -> int:
    """Messages in the jobs queue, visible or in flight."""
    attrs = stack.clients.sqs.get_queue_attributes(
        QueueUrl=queue_url or stack.settings.jobs_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


@dataclass(frozen=True)
class Snapshot:
    """What a request could change: every table's items and the queues' depths."""

    items: dict[str, list[str]]
    jobs: int
    dead_letters: int


def snapshot(stack: DeployedStack) -> Snapshot:
    items = {table: sorted(repr(sorted(i.items())) for i in scan_all(stack, table)) for table in tables(stack)}
    return Snapshot(items, queue_depth(stack), queue_depth(stack, stack.settings.dead_letter_queue_url))
