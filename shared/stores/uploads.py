"""One S3 multipart upload, part by part: what the worker uses to upload a file while it is still being written.

Part sizes: S3 takes at most 10,000 parts, each at least 5 MiB but the last; `part_size` picks the smallest size
that fits a file of `size_bound` bytes into that, never under MIN_PART (parts of 8 MiB, as boto3's default).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from shared.aws import AWS_ERRORS

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART = 8 * MIB
MAX_PARTS = 10_000


def part_size(size_bound: int, min_part: int = MIN_PART) -> int:
    """The part size (a whole number of MiB) that keeps a file of up to `size_bound` bytes within 10,000 parts."""
    needed = math.ceil(max(0, size_bound) / MAX_PARTS)
    return max(min_part, math.ceil(needed / MIB) * MIB)


class MultipartUpload:
    """CreateMultipartUpload once, UploadPart from any thread, then Complete, or Abort (which never raises)."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self.upload_id: str | None = None
        self._etags: dict[int, str] = {}
        self._lock = threading.Lock()
        self.finished = False

    def start(self) -> None:
        reply = self._s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, ContentType=self._content_type)
        self.upload_id = reply["UploadId"]

    def upload_part(self, number: int, data: bytes) -> None:
        """Upload part `number` (1-based); the same number again replaces it."""
        reply = self._s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data)
        with self._lock:
            self._etags[number] = reply["ETag"]

    def complete(self, count: int) -> None:
        """Assemble parts 1..count into the object (each must have been uploaded)."""
        with self._lock:
            parts = [{"PartNumber": n, "ETag": self._etags[n]} for n in range(1, count + 1)]
        self._s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts})
        self.finished = True

    def abort(self) -> bool:
        """Drop the upload and its stored parts; False (logged) when the store refused, e.g. it is down."""
        if self.upload_id is None or self.finished:
            return True
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except AWS_ERRORS as err:
            log.warning("could not abort a multipart upload", extra={"key": self.key, "error": str(err)})
            return False
        self.finished = True
        return True
