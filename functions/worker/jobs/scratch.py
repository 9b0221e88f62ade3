"""Scratch space on local disk: one folder per worker process (locked while it lives), one sub-folder per job.

Several worker processes may share SCRATCH_DIR (the local stack runs a few). A worker holds an flock on its
folder's lock file for its whole life; the kernel drops it when the process dies, however it dies. At start-up a
worker removes every sibling folder whose lock it can take: those are leftovers of crashed workers.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

from shared.models import TASK_ID_PATTERN

log = logging.getLogger(__name__)

_PREFIX = "w-"
_LOCK = ".lock"
_UNLOCKED_GRACE_SECONDS = 60


class Scratch:
    """This worker's folder; `job_dir(task_id)` is where one job may write."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.dir = root / f"{_PREFIX}{name}"
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, root: str | Path, name: str) -> "Scratch":
        """Create and lock this worker's folder after removing crashed workers' leftovers."""
        scratch = cls(Path(root), _safe(name))
        scratch.root.mkdir(parents=True, exist_ok=True)
        remove_leftovers(scratch.root)
        scratch.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(scratch.dir / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        scratch._lock_fd = fd
        return scratch

    def job_dir(self, task_id: str) -> Path:
        """The (not yet created) folder of one job."""
        name = task_id if TASK_ID_PATTERN.match(task_id) else "t-" + hashlib.sha256(task_id.encode()).hexdigest()[:16]
        return self.dir / name

    def remove_job_dir(self, task_id: str) -> None:
        shutil.rmtree(self.job_dir(task_id), ignore_errors=True)

    def close(self) -> None:
        """Remove the folder and drop the lock (at a clean exit)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def remove_leftovers(root: Path) -> list[Path]:
    """Remove worker folders under `root` whose owner is gone (their lock is free); returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.is_dir() or not entry.name.startswith(_PREFIX):
            continue
        try:
            fd = os.open(entry / _LOCK, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            # No lock file: either a worker is creating it right now, or one died before taking it.
            if _age(entry) < _UNLOCKED_GRACE_SECONDS:
                continue
            fd = None
        except OSError:
            continue
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # type: ignore[arg-type]
            continue  # a live worker owns it
        shutil.rmtree(entry, ignore_errors=True)
        if fd is not None:
            os.close(fd)
        removed.append(entry)
        log.info("removed a crashed worker's scratch folder", extra={"path": str(entry)})
    return removed


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:80]
