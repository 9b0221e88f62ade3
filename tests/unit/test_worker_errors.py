"""Error classification: permanent yt-dlp failures end a task at once with a readable message, transient ones retry."""

from __future__ import annotations

import io
import socket
import sys

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, PostProcessingError, UnsupportedError

from functions.worker.download.errors import PermanentJobError, classify, readable
from functions.worker.egress.guard import PrivateAddressRefused
from functions.worker.download.options import OptionsError
from shared.errors import Unavailable


def http_error(status: int, reason: str) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "https://example.com/v", {}, status=status, reason=reason))


def as_raised_by_ytdlp(cause: BaseException | None, message: str = "Unable to download webpage", ie: str = "generic", expected: bool = False) -> DownloadError:
    """What YoutubeDL.extract_info raises: DownloadError(exc_info=ExtractorError(cause=...)), built the same way."""
    try:
        try:
            if cause is not None:
                raise cause
            raise ExtractorError(message, ie=ie, expected=expected)
        except ExtractorError:
            raise
        except Exception as err:
            raise ExtractorError(f"{message}: {err}", cause=err, ie=ie) from err
    except ExtractorError as err:
        return DownloadError(f"ERROR: {err.msg}", exc_info=sys.exc_info())


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (403, "Forbidden"), (410, "Gone"), (401, "Unauthorized"), (400, "Bad Request")])
def test_worker_errors_http_4xx_is_permanent(status, reason):
    failure = classify(as_raised_by_ytdlp(http_error(status, reason)))
    assert failure.permanent
    assert failure.message.startswith(f"HTTP Error {status}: {reason}")


@pytest.mark.parametrize(("status", "reason"), [(500, "Internal Server Error"), (503, "Service Unavailable"), (429, "Too Many Requests"), (408, "Request Timeout")])
def test_worker_errors_http_5xx_and_throttling_are_transient(status, reason):
    failure = classify(as_raised_by_ytdlp(http_error(status, reason)))
    assert not failure.permanent
    assert failure.message.startswith(f"HTTP Error {status}: {reason}")


@pytest.mark.parametrize(
    "cause",
    [
        TransportError(cause=ConnectionResetError(104, "Connection reset by peer")),
        TransportError(cause=socket.timeout("timed out")),
        IncompleteRead(partial=100, expected=1000),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("The read operation timed out"),
    ],
)
def test_worker_errors_network_failures_are_transient_even_when_ytdlp_marks_them_expected(cause):
    err = as_raised_by_ytdlp(cause)
    assert not classify(err).permanent


def test_worker_errors_unsupported_url_is_permanent_and_readable():
    try:
        raise UnsupportedError("https://example.com/page")
    except UnsupportedError:
        err = DownloadError("ERROR: Unsupported URL: https://example.com/page", exc_info=sys.exc_info())
    failure = classify(err)
    assert failure.permanent
    assert failure.message.startswith("Unsupported URL: https://example.com/page")
    assert "update yt-dlp" in failure.message


@pytest.mark.parametrize(
    "message",
    ["Video unavailable. This video is private", "Requested format is not available. Use --list-formats for a list of available formats"],
)
def test_worker_errors_expected_extractor_errors_are_permanent(message):
    failure = classify(as_raised_by_ytdlp(None, message=message, ie="youtube", expected=True))
    assert failure.permanent
    assert failure.message.startswith(f"[youtube] {message}")


def test_worker_errors_geo_restriction_and_postprocessing_are_permanent():
    assert classify(GeoRestrictedError("not available from your location")).permanent
    pp = PostProcessingError("Conversion failed!")
    assert classify(pp) == classify(pp)
    assert classify(pp).permanent and classify(pp).message == "Conversion failed!"


def test_worker_errors_private_network_refusal_is_permanent():
    refusal = PrivateAddressRefused("URL host 'evil.example' resolves to a non-public address; private networks are not allowed")
    failure = classify(as_raised_by_ytdlp(TransportError(cause=refusal)))
    assert failure.permanent
    assert failure.message == str(refusal)


def test_worker_errors_a_recorded_refusal_explains_a_bare_ffmpeg_failure():
    err = DownloadError("ERROR: ffmpeg exited with code 8")
    message = "URL host 'evil.example' resolves to a non-public address; private networks are not allowed"
    assert classify(err) == classify(err)
    assert not classify(err).permanent
    failure = classify(err, refusals=[message])
    assert failure.permanent and failure.message == message


def test_worker_errors_storage_failures_are_transient():
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")
    assert not classify(throttled).permanent
    assert not classify(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")).permanent
    assert not classify(Unavailable("The task store is unavailable, try again later")).permanent


def test_worker_errors_bad_parameters_are_permanent():
    assert classify(OptionsError("duration must be a positive number of seconds")).permanent
    assert classify(PermanentJobError("The URL is not a live stream right now")).message == "The URL is not a live stream right now"


def test_worker_errors_unknown_failures_are_retried():
    failure = classify(RuntimeError("something odd"))
    assert not failure.permanent and failure.message == "something odd"


def test_worker_errors_messages_carry_no_traceback_or_boilerplate():
    err = as_raised_by_ytdlp(RuntimeError("boom"), message="Unable to extract title")
    text = readable(err)
    assert "Traceback" not in text and "please report this issue" not in text and "caused by" not in text
    assert not text.startswith("ERROR")
    assert "\n" not in readable(ValueError("line one\nline two"))
    assert len(readable(ValueError("x" * 5000))) <= 500


# -- out of disk space (issue 9: a permanent error for that job only)


def test_worker_errors_out_of_space_is_permanent_for_the_job_that_used_its_share():
    import errno

    from functions.worker.download.errors import classify

    full = DownloadError("ERROR: unable to write data", exc_info=(OSError, OSError(errno.ENOSPC, "No space left on device"), None))
    failure = classify(full, used=10 * 1024**3, budget=10 * 1024**3)
    assert failure.permanent and "disk space" in failure.message and "10.0 GiB" in failure.message


def test_worker_errors_out_of_space_caused_by_other_jobs_is_retried():
    import errno

    from functions.worker.download.errors import classify

    full = DownloadError("ERROR: unable to write data", exc_info=(OSError, OSError(errno.ENOSPC, "No space left on device"), None))
    failure = classify(full, used=1024, budget=10 * 1024**3)
    assert not failure.permanent and "disk was full" in failure.message


def test_worker_hooks_stop_a_download_that_outgrows_its_disk_share(tmp_path):
    from functions.worker.download.errors import DiskBudgetExceeded
    from functions.worker.download.runner import _Hooks

    reports: list = []
    hooks = _Hooks(type("R", (), {"report": reports.append})(), job_dir=tmp_path, budget=1000)
    (tmp_path / "video.f1.mp4.part").write_bytes(b"x" * 500)
    hooks.on_download({"status": "downloading", "downloaded_bytes": 500})  # within its share
    (tmp_path / "video.f1.mp4.part").write_bytes(b"x" * 2000)
    hooks._checked = 0.0
    with pytest.raises(DiskBudgetExceeded, match="disk"):
        hooks.on_download({"status": "downloading", "downloaded_bytes": 2000})


def test_worker_disk_budget_is_the_limit_or_the_free_space_shared_by_the_jobs(tmp_path):
    import shutil

    from functions.worker.jobs.disk import job_budget
    from functions.worker.settings import WorkerSettings

    assert job_budget(WorkerSettings(job_disk_limit=12345), tmp_path) == 12345
    free = shutil.disk_usage(tmp_path).free
    assert abs(job_budget(WorkerSettings(max_workers=4), tmp_path) - free // 4) <= free // 100
