"""Process trees and resident memory read from /proc (Linux), without psutil."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def cmdline(pid: int) -> list[str]:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may itself contain spaces or parentheses.
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def children_map() -> dict[int, list[int]]:
    """Every live process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """`pid` and every process below it."""
    tree = tree if tree is not None else children_map()
    out, pending = [], [pid]
    while pending:
        current = pending.pop()
        out.append(current)
        pending.extend(tree.get(current, []))
    return out


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    fields = [float(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def cpu_busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share of all cores that was busy between two cpu_times() readings (0 to 1)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """CPU time of a process plus that of its children it has already reaped (utime+stime+cutime+cstime)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and every live process below it (each one's reaped children included, so none twice)."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def role(pid: int, root: int, parent: int | None) -> str:
    """What a process under a worker is: the worker, its forkserver or helpers, a job child, or a program (ffmpeg)."""
    if pid == root:
        return "worker"
    args = cmdline(pid)
    name = Path(args[0]).name if args else "python"  # no command line yet: a fork on its way to run
    if not name.startswith("python"):
        return name
    if parent != root:
        return "job child"  # forked by the forkserver: same command line, one level further down
    return "forkserver" if any("forkserver" in a for a in args) else "helper"


def pss_bytes(pid: int) -> int:
    """Proportional set size (shared pages split between their sharers; a fork's copy-on-write pages count once)."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class MemorySampler:
    """Samples the resident memory (RSS and PSS) of `root` and its descendants in a thread; keeps the peaks."""

    root: int
    interval: float = 0.05
    peak_tree: int = 0
    peak_tree_pss: int = 0
    peak_processes: int = 0
    samples: int = 0
    peak_by_role: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "MemorySampler":
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = descendants(self.root)
            sizes = {pid: rss_bytes(pid) for pid in pids}
            self.peak_tree = max(self.peak_tree, sum(sizes.values()))
            self.peak_tree_pss = max(self.peak_tree_pss, sum(pss_bytes(pid) for pid in pids))
            self.peak_processes = max(self.peak_processes, len(pids))
            by_role: dict[str, int] = {}
            for pid, size in sizes.items():
                if not size:
                    continue  # exited between the listing and the read
                kind = role(pid, self.root, _parent(pid))
                by_role[kind] = by_role.get(kind, 0) + size
            for kind, size in by_role.items():
                self.peak_by_role[kind] = max(self.peak_by_role.get(kind, 0), size)
            self.samples += 1
            time.sleep(self.interval)
