"""Upload ahead: a single-file download's parts go to S3 while yt-dlp is still writing it.

yt-dlp writes a progressive download (one format over http/https) front to back into `<stem>.<ext>.part`, then
renames it to `<stem>.<ext>`. A watcher thread reads each full part behind the writer (through one open file
descriptor, so the rename does not matter), keeps its SHA-256 and uploads it, UPLOAD_CONCURRENCY parts at once,
into a multipart upload of the key the output will have. When the job's file is final (after every post-step:
yt-dlp's fixups, the container step, the limits), `finish` hashes the same ranges of the final file again: all
equal, only the tail is left to upload before Complete; any difference (a re-encode in place, a remux, a file
that shrank), another name, a failed part or any error: the multipart upload is aborted and the caller uploads the
final file normally. So what S3 keeps is always the final file, byte for byte, and no upload is left incomplete.

It is only tried where it can pay off: the job keeps the download as its output (no clip, live recording, GIF,
audio extraction, merge of formats or change of container) and the download is over the multipart threshold.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from shared.stores.media import MULTIPART_THRESHOLD, MediaStore
from shared.stores.uploads import MultipartUpload

if TYPE_CHECKING:
    from functions.worker.download.options import JobPlan

log = logging.getLogger(__name__)

_POLL = 0.2
_READ = 1024 * 1024
_PROTOCOLS = frozenset({"http", "https"})


class _Mismatch(Exception):
    """The final file is not what was uploaded ahead."""


def kept_name(plan: JobPlan) -> str | None:
    """The output's name when the job keeps yt-dlp's download as it is (else None: upload ahead cannot pay off)."""
    from functions.worker.download.containers import AUDIO_TARGETS, VIDEO_TARGETS

    opts = plan.ydl_opts
    if plan.info_only or plan.live or plan.gif or plan.container is None or "download_ranges" in opts or opts.get("postprocessors"):
        return None
    target = VIDEO_TARGETS.get(plan.container) or AUDIO_TARGETS.get(plan.container)
    return f"{plan.stem}.{target.ext}" if target else None


def decline_reason(hook: Mapping[str, Any], expected_name: str, threshold: int = MULTIPART_THRESHOLD) -> str | None:
    """Why a download, as its first progress hook shows it, is not uploaded ahead (None: it is)."""
    info = hook.get("info_dict") or {}
    if info.get("requested_formats"):
        return "a merge of formats"
    protocol = str(info.get("protocol") or "")
    if protocol not in _PROTOCOLS:
        return f"protocol {protocol or 'unknown'}"
    name = Path(str(hook.get("filename") or "")).name
    if name != expected_name:
        return f"the download ({name}) is not the output ({expected_name})"
    total = hook.get("total_bytes") or hook.get("total_bytes_estimate")
    if total is not None and float(total) < threshold:
        return "smaller than the multipart threshold"
    return None


class UploadAhead:
    """Follows one growing download into a multipart upload; `finish` checks it against the final file."""

    def __init__(self, media: MediaStore, task_id: str, part_size: int, concurrency: int, poll: float = _POLL) -> None:
        self._media = media
        self._task_id = task_id
        self._part = part_size
        self._concurrency = concurrency
        self._poll = poll
        self._cond = threading.Condition()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._thread: threading.Thread | None = None
        self._expected: str | None = None
        self._fd: int | None = None
        self._upload: MultipartUpload | None = None
        self._digests: list[bytes] = []
        self._failed: BaseException | None = None
        self._closing = False
        self._download_done = False
        self.declined: str | None = None
        self.download_ended: float | None = None  # time.monotonic() when yt-dlp finished the download

    @property
    def parts_ahead(self) -> int:
        return len(self._digests)

    def expect(self, name: str | None) -> None:
        """The name the output will have if the job keeps the download; None: nothing is uploaded ahead."""
        self._expected = name
        if name is None:
            self.declined = "the job does not keep the download as its output"

    def on_download(self, hook: Mapping[str, Any]) -> None:
        """yt-dlp's progress hook: start following the download at its first bytes, note when it ends."""
        status = hook.get("status")
        if status == "finished":
            self.download_ended = time.monotonic()
            with self._cond:
                self._download_done = True
                self._cond.notify_all()
            return
        if status != "downloading" or self._thread is not None or self._expected is None or self.declined:
            return
        self.declined = decline_reason(hook, self._expected)
        if self.declined:
            log.info("not uploading ahead", extra={"task_id": self._task_id, "reason": self.declined})
            return
        try:
            self._fd = os.open(str(hook.get("tmpfilename") or hook["filename"]), os.O_RDONLY)
        except OSError as err:
            self.declined = f"cannot read the download: {err}"
            return
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="upload-part")
        self._thread = threading.Thread(target=self._follow, name="upload-ahead", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        """Read and send every full part behind the writer until the download ends or the job closes this."""
        assert self._fd is not None and self._pool is not None
        try:
            while True:
                with self._cond:
                    if self._closing or self._failed:
                        return
                    done = self._download_done
                offset = len(self._digests) * self._part
                size = os.fstat(self._fd).st_size
                if size < offset:
                    raise _Mismatch("the download shrank while it was being written")
                while size - offset >= self._part and not self._closing and not self._failed:
                    data = os.pread(self._fd, self._part, offset)
                    if len(data) < self._part:
                        break
                    if self._upload is None:
                        self._upload = self._media.multipart(self._task_id, self._expected or "")
                        self._upload.start()
                    self._slots.acquire()  # at most `concurrency` parts in memory and in flight
                    self._digests.append(hashlib.sha256(data).digest())
                    self._futures.append(self._pool.submit(self._send, len(self._digests), data))
                    offset += self._part
                if done:
                    return  # the tail waits for the final file
                with self._cond:
                    self._cond.wait(self._poll)
        except Exception as err:  # noqa: BLE001 - whatever it was, finish() falls back to a normal upload
            self._failed = err

    def _send(self, number: int, data: bytes) -> None:
        try:
            assert self._upload is not None
            self._upload.upload_part(number, data)
        except Exception as err:  # noqa: BLE001
            self._failed = err
        finally:
            self._slots.release()

    def _stop_following(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        wait(self._futures)

    def finish(self, path: Path) -> bool:
        """Complete the upload as `path` (the job's final file); False (upload aborted): upload it normally."""
        if self._thread is None or self.declined:
            return False
        began = time.monotonic()
        self._stop_following()
        extra: dict[str, Any] = {"task_id": self._task_id, "parts_ahead": len(self._digests), "wait_parts": round(time.monotonic() - began, 3)}
        if self._upload is None:
            return False
        try:
            if self._failed is not None:
                raise self._failed
            if path.name != self._expected:
                raise _Mismatch(f"the output is {path.name}, not {self._expected}")
            size = path.stat().st_size
            count = self._verify_and_send_tail(path, size, extra)
            began = time.monotonic()
            self._upload.complete(count)
            extra["complete"] = round(time.monotonic() - began, 3)
        except _Mismatch as err:
            log.info("upload ahead discarded: the final file differs", extra={**extra, "reason": str(err)})
            self._upload.abort()
            return False
        except Exception as err:  # noqa: BLE001 - a normal upload still follows
            log.warning("upload ahead failed", extra={**extra, "error": str(err), "error_type": type(err).__name__})
            self._upload.abort()
            return False
        log.info("uploaded ahead", extra={**extra, "parts": count, "bytes": size})
        return True

    def _verify_and_send_tail(self, path: Path, size: int, timings: dict[str, Any]) -> int:
        """Check every part sent against `path`, send the rest of it; returns the number of parts."""
        assert self._pool is not None and self._upload is not None
        covered = len(self._digests) * self._part
        if size < covered:
            raise _Mismatch("the final file is shorter than what was uploaded")
        fd = os.open(str(path), os.O_RDONLY)
        try:
            checks = self._pool.map(lambda n: _range_digest(fd, n * self._part, self._part), range(len(self._digests)))
            began = time.monotonic()
            if any(got != want for got, want in zip(checks, self._digests)):
                raise _Mismatch("the final file's bytes differ from the download's")
            timings["verify"] = round(time.monotonic() - began, 3)
            began = time.monotonic()
            futures, number = [], len(self._digests)
            for offset in range(covered, size, self._part):
                number += 1
                self._slots.acquire()
                data = os.pread(fd, self._part, offset)
                futures.append(self._pool.submit(self._send, number, data))
            wait(futures)
            timings["tail"] = round(time.monotonic() - began, 3)
        finally:
            os.close(fd)
        if self._failed is not None:
            raise self._failed
        return number

    def close(self) -> None:
        """Stop, and abort the upload unless it completed (every path out of a job ends here)."""
        self._stop_following()
        if self._upload is not None:
            self._upload.abort()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _range_digest(fd: int, offset: int, length: int) -> bytes:
    digest = hashlib.sha256()
    end = offset + length
    while offset < end:
        chunk = os.pread(fd, min(_READ, end - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.digest()
