"""A job's cookie jar: the operator's cookies (COOKIES_FILE) as a private, writable file in the job's folder.

yt-dlp reads the jar at start and writes it back at the end (sites refresh cookies), so each job gets its own
copy, mode 0600, removed with the job's folder. The text comes through shared.secrets (a path or `file:` locally,
a Secrets Manager ARN in AWS) and is never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from functions.worker.download.errors import PermanentJobError
from shared import cookies
from shared.cookies import reference as cookie_reference
from shared.secrets import Secret, SecretSource

JAR_NAME = "cookies.txt"


def operator_cookies(setting: SecretStr | None, secrets: SecretSource) -> Secret | None:
    """The operator's cookies text, or None when none is configured (a configured but missing file is an error)."""
    ref = cookie_reference(setting)
    if ref is None:
        return None
    secret = secrets.get(ref)
    if secret is None:
        raise PermanentJobError("The operator's cookies (COOKIES_FILE) are configured but empty or missing, see docs/sites.md")
    return secret


def write_jar(job_dir: Path, *texts: Secret | None) -> Path | None:
    """Write the merged cookies (later texts win per domain) to a 0600 file in `job_dir`; None when there are none."""
    merged: str | None = None
    try:
        for text in texts:
            if text is not None:
                merged = cookies.merge(merged, text.reveal())
    except cookies.CookiesError as err:
        raise PermanentJobError(f"The configured cookies are not a Netscape cookies file ({err}), see docs/sites.md") from None
    if merged is None:
        return None
    path = job_dir / JAR_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(merged)
    return path
