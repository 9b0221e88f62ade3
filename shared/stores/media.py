"""The media bucket (S3): task outputs under `tasks/<task_id>/`, handed out as presigned URLs."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, Callable

from shared.aws import AWS_ERRORS, error_code
from shared.errors import NotFound
from shared.models import media_key, task_prefix
from shared.stores import unavailable_on_failure
from shared.stores.uploads import MIN_PART, MultipartUpload, part_size

log = logging.getLogger(__name__)

_MISSING = ("404", "NoSuchKey", "NotFound")

MULTIPART_THRESHOLD = 2 * MIN_PART


def _transfer_config(size: int, concurrency: int) -> Any:
    """Multipart above 16 MiB in parts sized for the file: memory stays flat whatever its size (imported here: the API never uploads)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=part_size(size), max_concurrency=concurrency, use_threads=True
    )

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".gif": "image/gif",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".aac": "audio/aac",
    ".json": "application/json",
}


def content_type(file_name: str) -> str:
    return _CONTENT_TYPES.get(Path(file_name).suffix.lower(), "application/octet-stream")


class MediaStore:
    """Uploads, reads, links and removes a task's files."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def upload(self, task_id: str, path: Path, file_name: str, callback: Callable[[int], None] | None = None, concurrency: int = 4) -> str:
        """Stream a file from disk to the task's prefix (multipart for large files); returns its key."""
        key = media_key(task_id, file_name)
        config = _transfer_config(path.stat().st_size, concurrency)
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type(file_name)}, Config=config, Callback=callback)
        return key

    def multipart(self, task_id: str, file_name: str) -> MultipartUpload:
        """A multipart upload of one of the task's files, not yet started (the worker uploads parts as they are written)."""
        return MultipartUpload(self._s3, self.bucket, media_key(task_id, file_name), content_type(file_name))

    def abort_unfinished_uploads(self, task_id: str) -> int:
        """Abort multipart uploads under the task's prefix that an earlier, killed attempt left behind; returns how many."""
        reply = self._s3.list_multipart_uploads(Bucket=self.bucket, Prefix=task_prefix(task_id))
        uploads = reply.get("Uploads") or []
        for upload in uploads:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(uploads)

    def size(self, task_id: str, file_name: str) -> int | None:
        """The stored file's size in bytes; None when it is not (or no longer) in the bucket."""
        with unavailable_on_failure("The media store"):
            try:
                head = self._s3.head_object(Bucket=self.bucket, Key=media_key(task_id, file_name))
            except AWS_ERRORS as err:
                if error_code(err) in _MISSING:
                    return None
                raise
        return int(head.get("ContentLength", 0))

    def read_json(self, task_id: str, file_name: str) -> Any:
        """A JSON file of the task, parsed (NaN and Infinity as yt-dlp writes them are accepted); NotFound when gone."""
        with unavailable_on_failure("The media store"):
            try:
                body = self._s3.get_object(Bucket=self.bucket, Key=media_key(task_id, file_name))["Body"]
            except AWS_ERRORS as err:
                if error_code(err) in _MISSING:
                    raise NotFound("File not found: it is no longer in storage") from err
                raise
            data = body.read()
        return json.loads(data)

    def presign(self, task_id: str, file_name: str, expires_in: int, attachment: bool) -> str:
        """A GET link to one of the task's files, valid for `expires_in` seconds."""
        disposition = "attachment" if attachment else "inline"
        params = {
            "Bucket": self.bucket,
            "Key": media_key(task_id, file_name),
            "ResponseContentDisposition": f'{disposition}; filename="{file_name}"',
            "ResponseContentType": content_type(file_name),
        }
        with unavailable_on_failure("The media store"):
            return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=max(1, int(expires_in)))

    def delete_task_files(self, task_id: str) -> int:
        """Remove every object under the task's prefix; returns how many."""
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=task_prefix(task_id)):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        try:  # a job killed mid-upload cannot abort its own (the lifecycle rule is the last backstop)
            self.abort_unfinished_uploads(task_id)
        except AWS_ERRORS as err:
            log.warning("could not abort a task's unfinished uploads", extra={"task_id": task_id, "error": str(err)})
        return deleted

    def read_stream(self, task_id: str, file_name: str) -> Any:
        """A stored file's body, to read in chunks (`iter_chunks`)."""
        with unavailable_on_failure("The media store"):
            return self._s3.get_object(Bucket=self.bucket, Key=media_key(task_id, file_name))["Body"]

    def multipart_writer(self, task_id: str, file_name: str, part_size: int = MULTIPART_THRESHOLD) -> "MultipartWriter":
        """A write-only stream into a new object of the task, uploaded one part at a time."""
        return MultipartWriter(self._s3, self.bucket, media_key(task_id, file_name), content_type(file_name), part_size)


class MultipartWriter(io.RawIOBase):
    """Streams bytes into one S3 object by multipart upload: at most one part is held in memory, nothing on disk.

    Not seekable (zipfile then writes data descriptors instead of going back to patch headers). `close()` uploads
    the last part and completes the object; `abort()` (or an exception inside `with`) throws the parts away.
    """

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str, part_size: int = MULTIPART_THRESHOLD) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._part_size = s3, bucket, key, max(5 * 1024 * 1024, part_size)
        self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._position = 0
        self._done = False

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self._position += len(view)
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(view)

    def _send(self, body: bytes) -> None:
        number = len(self._parts) + 1
        etag = self._s3.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body)["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def close(self) -> None:
        if not self._done and not self.closed:
            if self._buffer or not self._parts:
                self._send(bytes(self._buffer))
                self._buffer.clear()
            self._s3.complete_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
            self._done = True
        super().close()

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        super().close()

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        if kind is not None:
            self.abort()
        else:
            self.close()
