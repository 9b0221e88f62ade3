"""Renews every running job's lease and message side by side, so one stalled call delays only its own job.

Each job's renewal runs on a pool thread; a job whose previous renewal is still in flight is skipped this round
rather than queued behind it. The clients it uses have per-call timeouts well below a third of the visibility
timeout (see `heartbeat_timeouts`), so even a stalled call ends while the job's message is still hidden.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Hashable, Iterable


def heartbeat_timeouts(visibility_timeout: float) -> dict[str, float]:
    """Connect/read timeouts for the heartbeat's clients: both tries of one call end within a quarter of the window."""
    per_try = max(0.5, visibility_timeout / 16)
    return {"connect_timeout": min(3.0, per_try), "read_timeout": min(10.0, per_try), "max_attempts": 2}


class Heartbeat:
    """Runs one renewal per job at once, each on its own thread."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="heartbeat")
        self._lock = threading.Lock()
        self._in_flight: dict[Hashable, Future[Any]] = {}

    def beat(self, items: Iterable[Any], renew: Callable[[Any], Any], key: Callable[[Any], Hashable], timeout: float | None) -> int:
        """Start `renew(item)` for every item not still renewing; wait up to `timeout` for them; returns how many started."""
        started: list[Future[Any]] = []
        with self._lock:
            for item in items:
                k = key(item)
                previous = self._in_flight.get(k)
                if previous is not None and not previous.done():
                    continue  # stalled: its own timeout ends it; the other jobs go on
                future = self._pool.submit(renew, item)
                self._in_flight[k] = future
                started.append(future)
            for k in [k for k, f in self._in_flight.items() if f.done()]:
                del self._in_flight[k]
        wait(started, timeout=timeout)
        return len(started)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
