"""Webhook latency: from a task's completion (its completed_time, written by the worker as it settles the task) to
a loopback receiver getting the signed POST, through the notify queue and an idle notifier. Each delivery is
verified with the key's secret (standardwebhooks), so a fast but wrong delivery cannot count."""

from __future__ import annotations

import time
from datetime import datetime

from bench.harness import Context
from bench.stats import Figure
from tests.support.webhook_receiver import WebhookReceiver

NAME = "webhook_latency"
TITLE = "Webhook: task completion to the receiver's request (idle notifier)"
NEEDS_WORKER = True


def run(ctx: Context) -> list[Figure]:
    repeats = ctx.repeats(7, 3)
    stack = ctx.stack(WORKER_PROCESSES="1")
    key = stack.new_key("webhook-latency")
    api = stack.api(key)
    secret = api.call("GET", "/webhook_secret").body["secret"]
    url = ctx.media.url("video.mp4")
    samples: list[float] = []
    with WebhookReceiver() as receiver:
        for n in range(repeats + 1):  # the first is an untimed warm-up (first-use costs of the notifier's clients)
            path = f"/bench-{n}"
            reply = api.call("POST", "/get_info", {"url": url, "webhook_url": receiver.plan(path, 200)})
            if reply.status != 200:
                raise RuntimeError(f"POST /get_info answered {reply.status}: {reply.body}")
            (delivery,) = receiver.wait_for(path, 1, timeout=120)
            payload = delivery.verify(secret)
            if payload["type"] != "task.completed" or payload["data"]["task_id"] != reply.body["task_id"]:
                raise RuntimeError(f"unexpected delivery: {payload}")
            completed = datetime.fromisoformat(payload["timestamp"]).timestamp()
            if n:
                samples.append(delivery.received_at - completed)
            time.sleep(0.5)  # the notifier goes back to its long poll: idle, as the figure says
    api.close()
    figure = Figure(NAME, "task completed -> webhook received", "s", samples, target="< 1 s", note=f"{len(samples)} tasks (get_info)")
    figure.met = figure.median < 1.0
    return [figure]
