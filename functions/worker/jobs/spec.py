"""What the parent hands a job's child, and the child's entry point (kept light: the parent never imports yt-dlp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.worker.settings import WorkerSettings
from shared.secrets import Secret


@dataclass(frozen=True)
class JobSpec:
    """What a child needs: the claimed task, the settings, its scratch folder and the operator's cookies."""

    task: dict[str, Any]
    settings: WorkerSettings
    job_dir: str
    operator_cookies: Secret | None = None  # read by the worker (jobs.cookies); None: the job reads them itself


def child_entry(spec: JobSpec, conn: Any) -> None:
    """Entry point of a job's child process (the runner is already imported in the forkserver)."""
    from functions.worker.download.runner import child_main

    child_main(spec, conn)
