"""The local stack's S3 (s3rver in infra/backends.js) answers the multipart calls the worker needs to leave no
upload behind: ListMultipartUploads by prefix and AbortMultipartUpload, which s3rver itself does not implement."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from infra.backends import Backends
from tests.support.stack import FAKE_AWS_ENV

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[Any]:
    with open(tmp_path / "backends.log", "wb") as log:
        backends = Backends(tmp_path / "state", log, credentials=(FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"], FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"]))
        urls = backends.start()
        try:
            client = boto3.client("s3", endpoint_url=urls["s3"], region_name=FAKE_AWS_ENV["AWS_REGION"])
            client.create_bucket(Bucket="media")
            yield client
        finally:
            backends.stop()


def test_local_s3_lists_and_aborts_multipart_uploads(s3, tmp_path):
    # GIVEN two unfinished multipart uploads, one with a stored part
    first = s3.create_multipart_upload(Bucket="media", Key="tasks/T1/video.mp4")["UploadId"]
    s3.upload_part(Bucket="media", Key="tasks/T1/video.mp4", UploadId=first, PartNumber=1, Body=b"x" * (5 * 1024 * 1024))
    second = s3.create_multipart_upload(Bucket="media", Key="tasks/T2/video.mp4")["UploadId"]
    # WHEN listed by a task's prefix, THEN only that task's upload is named
    listed = s3.list_multipart_uploads(Bucket="media", Prefix="tasks/T1/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("tasks/T1/video.mp4", first)]
    # WHEN aborted, THEN it is gone with its part, the other stays
    s3.abort_multipart_upload(Bucket="media", Key="tasks/T1/video.mp4", UploadId=first)
    assert s3.list_multipart_uploads(Bucket="media", Prefix="tasks/T1/").get("Uploads") is None
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="media")["Uploads"]] == [second]
    assert not [p for p in (tmp_path / "state" / "s3").rglob("*") if p.is_file() and first in str(p)]
