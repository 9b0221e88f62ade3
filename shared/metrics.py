"""CloudWatch metrics in the embedded metric format (EMF): one JSON line on stdout per call, no API calls.

Lambda's log pipeline turns these lines into metrics by itself (namespace YtdlpHost, dimension Stack); locally
they are just log lines. Values are counts unless a unit is given.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Mapping

NAMESPACE = "YtdlpHost"


def emf_record(metrics: Mapping[str, float], stack: str, units: Mapping[str, str] | None = None, now: float | None = None) -> dict:
    """The EMF document for `metrics` under the Stack dimension."""
    units = units or {}
    return {
        "_aws": {
            "Timestamp": int((now if now is not None else time.time()) * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stack"]],
                    "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in metrics],
                }
            ],
        },
        "Stack": stack,
        **{name: value for name, value in metrics.items()},
    }


def emit(metrics: Mapping[str, float], stack: str, units: Mapping[str, str] | None = None, out: IO[str] | None = None) -> None:
    """Write one EMF line for the stack `stack` (settings.stack_name); nothing when `metrics` is empty."""
    if not metrics:
        return
    stream = out or sys.stdout
    stream.write(json.dumps(emf_record(metrics, stack, units)) + "\n")
    stream.flush()
