"""What went wrong in a job, by type: permanent failures end the task at once, transient ones are retried.

yt-dlp wraps the error that matters (an HTTP status, a refused address, a reset connection) in a
DownloadError / ExtractorError chain, and marks network failures `expected`; so the chain is walked and the
innermost known type decides, never the text of a message.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Iterable, Iterator

from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import (
    ContentTooShortError,
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    PostProcessingError,
    UnavailableVideoError,
    UnsupportedError,
)

from functions.worker.egress.guard import PrivateAddressRefused
from functions.worker.download.options import OptionsError
from functions.worker.jobs.disk import gib, is_out_of_space
from functions.worker.download.site_errors import BLOCKED_STATUSES, JS_RUNTIME_FIX, blocked_fix, diagnose, js_runtime_missing
from shared.aws import AWS_ERRORS
from shared.errors import Unavailable

# Client errors that a retry can fix: timeout, too early, too many requests.
_RETRYABLE_4XX = frozenset({408, 425, 429})
_MAX_MESSAGE = 500
_CLI_HINT = re.compile(r"\.?\s*(?:Use --(?:cookies|username)|See\s+https://github\.com/yt-dlp/).*$", re.S)


class PermanentJobError(Exception):
    """A failure that would repeat on every attempt (bad parameters, not a live stream, no output...)."""


class DiskBudgetExceeded(PermanentJobError):
    """The job needs more scratch disk than its share (JOB_DISK_LIMIT, or the free space over MAX_WORKERS)."""


def out_of_space(exc: BaseException, used: int, budget: int) -> Failure | None:
    """For a full disk: permanent when this job used its share, else transient (someone else filled it)."""
    if not is_out_of_space(_chain(exc)):
        return None
    if budget and used * 10 >= budget * 9:  # at (about) its share: this job is the one too big
        return Failure(True, f"Out of disk space: the job needs more than its {gib(budget)} of scratch disk")
    return Failure(False, "The worker's disk was full (not because of this job); it will be retried")


@dataclass(frozen=True)
class Failure:
    """A classified failure: whether to retry and the message a user sees."""

    permanent: bool
    message: str


def classify(exc: BaseException, refusals: Iterable[str] = (), warnings: Iterable[str] = (), used: int = 0, budget: int = 0) -> Failure:
    """Decide whether `exc` ends the task or deserves a retry, with a readable message that names the fix.

    `used` and `budget` are the job's scratch bytes and share, for telling its own full disk from another's.
    """
    failure = _classify(exc, refusals, used, budget)
    if js_runtime_missing(warnings):
        return Failure(failure.permanent, f"{failure.message} ({JS_RUNTIME_FIX})")
    return failure


def _classify(exc: BaseException, refusals: Iterable[str], used: int, budget: int) -> Failure:
    refused = list(refusals)
    chain = list(_chain(exc))
    full = out_of_space(exc, used, budget)
    if full is not None:
        return full
    for err in chain:
        if isinstance(err, PrivateAddressRefused):
            return Failure(True, str(err))
    if refused:
        # The SSRF guard refused a connection (possibly ffmpeg's, through the proxy): that is why it failed.
        return Failure(True, refused[-1])
    for err in chain:
        if isinstance(err, (OptionsError, PermanentJobError)):
            return Failure(True, str(err))
        if isinstance(err, HTTPError):
            status = int(err.status)
            permanent = 400 <= status < 500 and status not in _RETRYABLE_4XX
            message = f"HTTP Error {status}: {err.reason}" if err.reason else f"HTTP Error {status}"
            if status in BLOCKED_STATUSES:
                message = f"{message} ({blocked_fix(status)})"
            return Failure(permanent, message)
        if isinstance(err, (TransportError, ContentTooShortError, socket.timeout, ConnectionError, TimeoutError)):
            return Failure(False, readable(err))
        if isinstance(err, (Unavailable, *AWS_ERRORS)):
            return Failure(False, _aws_message(err))
    site = _site_failure(chain)
    if site is not None:
        return site
    for err in chain:
        if isinstance(err, (UnsupportedError, GeoRestrictedError, UnavailableVideoError, PostProcessingError)):
            return Failure(True, readable(err))
        # An expected extractor error without a network cause: video unavailable, private, no such format...
        if isinstance(err, ExtractorError) and err.expected:
            return Failure(True, readable(err))
    return Failure(False, readable(exc))


def _site_failure(chain: list[BaseException]) -> Failure | None:
    """A site's refusal (bot check, sign-in, private, geo, age...) as a message that names the fix."""
    site_errors = [e for e in chain if isinstance(e, (ExtractorError, DownloadError))]
    if not site_errors:
        return None
    problem = diagnose(readable(e) for e in site_errors)
    if problem is None and any(isinstance(e, UnsupportedError) for e in chain):
        problem = diagnose(["Unsupported URL:"])
    if problem is None and any(isinstance(e, GeoRestrictedError) for e in chain):
        problem = diagnose(["geo-restricted"])
    if problem is None:
        return None
    # yt-dlp's own hint names command-line options (--cookies...), which mean nothing to an API user.
    text = _CLI_HINT.sub("", readable(site_errors[0])).rstrip(" .") or problem.kind
    return Failure(problem.permanent, f"{text} ({problem.fix})")


def readable(exc: BaseException) -> str:
    """One line a user can read: yt-dlp's message without 'ERROR:', 'caused by' reprs or bug-report boilerplate."""
    inner = exc.exc_info[1] if isinstance(exc, DownloadError) and exc.exc_info else None
    if isinstance(inner, (ExtractorError, HTTPError)):
        return readable(inner)
    if isinstance(exc, ExtractorError):
        text = exc.orig_msg
        if exc.ie and not text.startswith("["):
            text = f"[{exc.ie}] {text}"
    elif isinstance(exc, HTTPError):
        text = f"HTTP Error {exc.status}: {exc.reason}"
    else:
        text = str(exc) or type(exc).__name__
    text = re.sub(r"^(ERROR|WARNING):\s*", "", text.strip())
    text = re.sub(r";\s*please report this issue on .*$", "", text, flags=re.S)
    text = re.sub(r"\s*\(caused by .*\)\s*$", "", text, flags=re.S)
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE] or type(exc).__name__


def _aws_message(err: BaseException) -> str:
    if isinstance(err, Unavailable):
        return err.message
    return f"a storage service is unavailable ({type(err).__name__})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps, outermost first (DownloadError.exc_info, ExtractorError.cause, __cause__...)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        err = stack.pop(0)
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        nested: list[BaseException | None] = []
        if isinstance(err, DownloadError) and err.exc_info:
            nested.append(err.exc_info[1])
        if isinstance(err, ExtractorError):
            nested.append(err.cause if isinstance(err.cause, BaseException) else None)
            if err.exc_info and err.exc_info[1] is not err:
                nested.append(err.exc_info[1])
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException):
            nested.append(cause)
        reason = getattr(err, "reason", None)  # urllib's URLError keeps the socket error here
        if isinstance(reason, BaseException):
            nested.append(reason)
        nested += [err.__cause__, err.__context__]
        stack.extend(e for e in nested if e is not None)
