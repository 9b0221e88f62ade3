"""Names and shapes shared by the API, the worker and the cleanup."""

from __future__ import annotations

import enum
import re
import secrets
import string

# Permissions, in the order the original lists them.
PERMISSIONS: tuple[str, ...] = (
    "create_key",
    "delete_key",
    "get_key",
    "get_keys",
    "get_video",
    "get_audio",
    "get_live_video",
    "get_live_audio",
    "get_info",
    "get_playlist",
)

TASK_TYPES: tuple[str, ...] = ("get_video", "get_audio", "get_live_video", "get_live_audio", "get_info", "get_playlist")

TASK_ID_LENGTH = 16
_TASK_ID_ALPHABET = string.ascii_letters + string.digits
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{16}$")

# Key names: letters, digits and . _ - ; 1 to 64 characters (documented in the README).
KEY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TaskStatus(str, enum.Enum):
    WAITING = "waiting"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"


FINISHED_STATUSES = frozenset({TaskStatus.COMPLETED.value, TaskStatus.ERROR.value})


def new_task_id() -> str:
    """16 letters and digits from the OS's CSPRNG (about 95 bits)."""
    return "".join(secrets.choice(_TASK_ID_ALPHABET) for _ in range(TASK_ID_LENGTH))


def media_key(task_id: str, file_name: str) -> str:
    """The S3 key of one of a task's files: every output lives under the task's own prefix."""
    return f"tasks/{task_id}/{file_name}"


def task_prefix(task_id: str) -> str:
    return f"tasks/{task_id}/"
