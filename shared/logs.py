"""Structured logs: one JSON object per line on stderr, with the `extra` fields of each call.

Never pass API keys or whole URLs (they may carry signed tokens) as fields: tasks are named by id, URLs by host.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

# Fields every log line of the current request carries (task_id, key_name). One dict per request, changed in
# place, so that what a dependency binds on one thread shows in the lines the route logs on another.
_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)


def new_context() -> None:
    """Start a fresh set of context fields (at the start of each request)."""
    _context.set({})


def bind(**fields: Any) -> None:
    """Add fields to every later log line of the current request (no-op outside one)."""
    context = _context.get()
    if context is not None:
        context.update(fields)


# Attributes every LogRecord has; anything else came from `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Format a record as a JSON line: time, level, logger, message, extra fields, exception summary."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "component": self._component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_context.get() or {})
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                data[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure(component: str, level: int | str = logging.INFO) -> None:
    """Send this process's logs to stderr as JSON lines (replacing any handler set before)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Their debug output is noise at INFO and may include request details.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def url_host(url: str) -> str:
    """Only the host of a URL, for logs."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
