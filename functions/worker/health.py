"""The container's health check (`python -m functions.worker.health`): healthy while the worker's alive file is fresh.

The worker touches SCRATCH_DIR/alive at least every 30 s from its heartbeat loop (and after each receive); a file
older than STALE_AFTER seconds means the loop is stuck, and ECS replaces the task.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

STALE_AFTER = 120.0


def is_healthy(alive_file: Path, now: float | None = None, stale_after: float = STALE_AFTER) -> bool:
    """True when `alive_file` exists and was touched within `stale_after` seconds."""
    try:
        touched = alive_file.stat().st_mtime
    except OSError:
        return False
    return (now if now is not None else time.time()) - touched < stale_after


def main() -> int:
    from functions.worker.settings import get_worker_settings

    alive = Path(get_worker_settings().scratch_dir) / "alive"
    if is_healthy(alive):
        return 0
    print(f"unhealthy: {alive} is missing or older than {STALE_AFTER:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
