"""Job children as the parent sees them: started warm from a forkserver, waited on, killed as a process group.

Why a forkserver: forking the worker itself would copy a process whose other threads (heartbeat, receiver,
boto3's pools) may hold locks at that instant. The forkserver is a fresh single-threaded process that imports
yt-dlp, boto3 and the runner once (functions.worker.jobs.preload); each job is a fork of it, so isolation costs no
import time. When the worker dies the forkserver exits (it watches a pipe from the worker), and each child,
whose parent it is, gets SIGTERM from PR_SET_PDEATHSIG and kills its own process group (ffmpeg included).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from typing import Any, Protocol

from functions.worker.jobs.spec import JobSpec, child_entry

log = logging.getLogger(__name__)

PRELOAD = ["functions.worker.jobs.preload"]
_EXIT_WAIT = 15.0


class JobProcess(Protocol):
    """A running job, as the service drives it."""

    pid: int | None
    result: dict[str, Any] | None
    exitcode: int | None

    def wait(self, timeout: float | None) -> bool: ...

    def kill(self) -> None: ...


class Launcher(Protocol):
    def start(self, spec: JobSpec) -> JobProcess: ...


class ChildProcess:
    """One job child: its result arrives through a pipe just before it exits."""

    def __init__(self, ctx: Any, spec: JobSpec) -> None:
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=child_entry, args=(spec, send), name=f"job-{spec.task['task_id']}", daemon=True)
        self._proc.start()
        send.close()  # the child holds the only writer: EOF here means it is gone
        self.pid: int | None = self._proc.pid
        self.result: dict[str, Any] | None = None
        self.exitcode: int | None = None

    def wait(self, timeout: float | None) -> bool:
        """Wait until the child has reported and exited (True) or `timeout` passed (False)."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        waitables: list[Any] = [self._recv, self._proc.sentinel]
        while waitables:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(waitables, remaining)
            if not ready:
                return False
            if self._recv in ready:
                try:
                    self.result = self._recv.recv()
                except (EOFError, OSError):
                    pass
                waitables.remove(self._recv)
            if self._proc.sentinel in ready:
                break
        self._proc.join(_EXIT_WAIT)
        if self._proc.exitcode is None:
            self.kill()
            self._proc.join(_EXIT_WAIT)
        if self.result is None and self._recv.poll(0):
            try:
                self.result = self._recv.recv()
            except (EOFError, OSError):
                pass
        self.exitcode = self._proc.exitcode
        self._recv.close()
        return True

    def kill(self) -> None:
        """SIGKILL the child's process group (it leads one: setsid at start), else the child alone."""
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ForkserverLauncher:
    """Starts job children from a forkserver that has yt-dlp and boto3 imported already."""

    def __init__(self, preload: list[str] | None = None) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(preload if preload is not None else PRELOAD)

    def warm_up(self) -> None:
        """Start the forkserver now, so the first job does not wait for its imports."""
        from multiprocessing import forkserver

        started = time.monotonic()
        forkserver.ensure_running()
        log.info("forkserver ready", extra={"seconds": round(time.monotonic() - started, 2)})

    def start(self, spec: JobSpec) -> ChildProcess:
        return ChildProcess(self._ctx, spec)

    def close(self, timeout: float = 5.0) -> None:
        """Stop and reap the forkserver and multiprocessing's resource tracker before the worker exits.

        Otherwise they outlive the worker for a moment (as zombies, or until they notice it is gone), which a
        supervisor counting its process group sees as leftovers. Python has no public API for this; these are
        the attributes its own `_stop()` methods use, each looked up defensively.
        """
        from multiprocessing import forkserver, resource_tracker

        for owner, fd_attr, pid_attr in (
            (getattr(forkserver, "_forkserver", None), "_forkserver_alive_fd", "_forkserver_pid"),
            (getattr(resource_tracker, "_resource_tracker", None), "_fd", "_pid"),
        ):
            fd, pid = getattr(owner, fd_attr, None), getattr(owner, pid_attr, None)
            if isinstance(fd, int):
                try:
                    os.close(fd)  # EOF on this pipe is what tells it to exit
                except OSError:
                    pass
                setattr(owner, fd_attr, None)
            if isinstance(pid, int):
                _reap(pid, timeout)
                setattr(owner, pid_attr, None)


def _reap(pid: int, timeout: float) -> None:
    """Wait for a process of ours to exit, killing it after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() >= deadline:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            return
        time.sleep(0.02)
