"""Each job's share of the scratch disk: JOB_DISK_LIMIT bytes, or the free space at its start over MAX_WORKERS.

A job that outgrows its share is stopped with a permanent error. A job that meets a full disk (ENOSPC) while
still inside its share did not cause it (another job, or something else, filled the disk): it is retried, so
one job running out of space never fails the others.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Iterable

from functions.worker.settings import WorkerSettings

_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def job_budget(settings: WorkerSettings, root: Path) -> int:
    """Bytes one job may use under `root`."""
    if settings.job_disk_limit:
        return int(settings.job_disk_limit)
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return 0  # unknown: no budget check (ENOSPC still ends the job readably)
    return max(1, free // max(1, settings.max_workers))


def used_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it is gone)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # renamed or removed meanwhile
    return total


def is_out_of_space(chain: Iterable[BaseException]) -> bool:
    """True when an error in the chain is the file system saying it is full."""
    return any(isinstance(err, OSError) and err.errno in _OUT_OF_SPACE for err in chain)


def gib(value: int) -> str:
    return f"{value / 1024**3:.1f} GiB"
