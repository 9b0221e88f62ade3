"""Upload ahead, without yt-dlp: part sizing, when it is tried, and the follower against moto's S3 with a file that
grows as a download's would, then stays, changes in place, or is given up."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from functions.worker.download.options import build_plan
from functions.worker.upload.ahead import UploadAhead, decline_reason, kept_name
from shared.models import media_key
from shared.stores.media import MULTIPART_THRESHOLD, MediaStore
from shared.stores.uploads import MAX_PARTS, MIB, MIN_PART, part_size

PART = 5 * MIB  # S3's smallest part but the last: small files, same rules


@pytest.mark.parametrize("bound", [0, 1, 300 * 10**6, 4 * 1024**3, 80 * 1024**3, 5 * 1024**4, 123_456_789_012])
def test_part_size_keeps_a_file_of_the_bound_within_10000_parts(bound):
    size = part_size(bound)
    assert size >= MIN_PART and size % MIB == 0
    assert -(-bound // size) <= MAX_PARTS


def test_part_size_is_8_mib_up_to_the_default_max_filesize_and_grows_past_it():
    assert part_size(4 * 1024**3) == 8 * MIB
    assert part_size(100 * 1024**3) == 11 * MIB  # 100 GiB / 10,000 = 10.24 MiB, rounded up to whole MiB


def hook(status: str = "downloading", filename: str = "video.mp4", protocol: str = "https", total: int | None = 300 * 10**6, **info: Any) -> dict[str, Any]:
    return {"status": status, "filename": filename, "tmpfilename": f"{filename}.part", "total_bytes": total, "info_dict": {"protocol": protocol, **info}}


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (hook(), None),
        (hook(total=None), None),  # size unknown: followed, a small file simply never fills a part
        (hook(protocol="m3u8_native"), "protocol m3u8_native"),
        (hook(filename="video.f137.mp4"), "the download (video.f137.mp4) is not the output (video.mp4)"),
        (hook(requested_formats=[{}, {}]), "a merge of formats"),
        (hook(total=MULTIPART_THRESHOLD - 1), "smaller than the multipart threshold"),
    ],
)
def test_decline_reason_tries_only_a_single_progressive_download_that_is_the_output(given, reason):
    assert decline_reason(given, "video.mp4") == reason


@pytest.mark.parametrize(
    ("task_type", "params", "name"),
    [
        ("get_video", {}, "video.mp4"),
        ("get_video", {"output_format": "mkv"}, "video.mkv"),
        ("get_video", {"start_time": 1, "end_time": 4}, None),  # ffmpeg cuts a clip: never the download
        ("get_video", {"output_format": "gif"}, None),
        ("get_audio", {}, None),  # the audio is extracted into a new file
        ("get_audio", {"output_format": "m4a"}, "audio.m4a"),
        ("get_audio", {"output_format": "vorbis"}, "audio.ogg"),
        ("get_live_video", {"duration": 10}, None),
        ("get_info", {}, None),
    ],
)
def test_kept_name_is_the_output_name_only_when_the_job_keeps_the_download(task_type, params, name, tmp_path):
    plan = build_plan({"task_type": task_type, "url": "https://example.com/v", "params": params}, tmp_path, max_filesize=10**9, max_duration=3600)
    assert kept_name(plan) == name


# -- the follower against moto's S3


@pytest.fixture
def media(aws) -> MediaStore:
    return MediaStore(aws.clients.s3, aws.settings.media_bucket)


def unfinished(media: MediaStore) -> list[dict[str, Any]]:
    return media._s3.list_multipart_uploads(Bucket=media.bucket).get("Uploads") or []


def wait_for_parts(ahead: UploadAhead, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ahead.parts_ahead < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ahead.parts_ahead >= count


def start_download(tmp_path: Path, media: MediaStore, first: bytes) -> tuple[UploadAhead, Path]:
    """A download that has written `first` so far into video.mp4.part, followed by an UploadAhead."""
    part = tmp_path / "video.mp4.part"
    part.write_bytes(first)
    ahead = UploadAhead(media, "T1", PART, concurrency=2, poll=0.02)
    ahead.expect("video.mp4")
    ahead.on_download({**hook(total=None), "filename": str(tmp_path / "video.mp4"), "tmpfilename": str(part)})
    return ahead, part


def end_download(ahead: UploadAhead, part: Path, rest: bytes) -> Path:
    with part.open("ab") as out:
        out.write(rest)
    final = part.with_name("video.mp4")
    os.replace(part, final)  # as yt-dlp renames the .part when the download ends
    ahead.on_download({"status": "finished"})
    return final


def test_upload_ahead_sends_parts_while_the_file_grows_and_completes_with_the_tail(tmp_path, media):
    # GIVEN a download that has written 2.5 parts
    data = os.urandom(3 * PART + 1234)
    ahead, part = start_download(tmp_path, media, data[: 2 * PART + PART // 2])
    # WHEN the follower runs, THEN two full parts are in S3 before the download ends
    wait_for_parts(ahead, 2)
    assert len(unfinished(media)) == 1
    # WHEN the download ends and the file is final as it is
    final = end_download(ahead, part, data[2 * PART + PART // 2 :])
    assert ahead.finish(final) is True
    ahead.close()
    # THEN the object is the file, byte for byte, and no upload is left open
    body = media._s3.get_object(Bucket=media.bucket, Key=media_key("T1", "video.mp4"))["Body"].read()
    assert body == data
    assert unfinished(media) == []


def test_upload_ahead_is_discarded_when_the_final_file_was_changed_in_place(tmp_path, media):
    # GIVEN parts uploaded ahead, then a post-step that rewrites the file's start under the same name
    data = os.urandom(3 * PART)
    ahead, part = start_download(tmp_path, media, data[: 2 * PART + 10])
    wait_for_parts(ahead, 2)
    final = end_download(ahead, part, data[2 * PART + 10 :])
    with final.open("r+b") as out:
        out.write(b"\x00moov-moved-to-the-front")
    # WHEN the job finishes, THEN the upload ahead is refused and aborted: the caller uploads the final file itself
    assert ahead.finish(final) is False
    ahead.close()
    assert unfinished(media) == []
    assert "Contents" not in media._s3.list_objects_v2(Bucket=media.bucket, Prefix="tasks/T1/")


def test_upload_ahead_is_discarded_when_the_output_has_another_name(tmp_path, media):
    data = os.urandom(2 * PART + 5)
    ahead, part = start_download(tmp_path, media, data)
    wait_for_parts(ahead, 2)
    final = end_download(ahead, part, b"")
    other = final.with_name("video.mkv")
    final.rename(other)
    assert ahead.finish(other) is False
    ahead.close()
    assert unfinished(media) == []


def test_upload_ahead_of_a_failed_download_leaves_no_upload(tmp_path, media):
    # GIVEN parts uploaded ahead of a download that then fails (the job never calls finish)
    ahead, _ = start_download(tmp_path, media, os.urandom(2 * PART))
    wait_for_parts(ahead, 2)
    assert len(unfinished(media)) == 1
    # WHEN the job closes it on its way out, THEN the multipart upload is aborted
    ahead.close()
    assert unfinished(media) == []


def test_upload_ahead_is_not_tried_when_the_job_does_not_keep_the_download(tmp_path, media):
    part = tmp_path / "video.mp4.part"
    part.write_bytes(os.urandom(2 * PART))
    ahead = UploadAhead(media, "T1", PART, concurrency=2, poll=0.02)
    ahead.expect(None)
    ahead.on_download({**hook(total=None), "filename": str(tmp_path / "video.mp4"), "tmpfilename": str(part)})
    assert ahead.finish(tmp_path / "video.mp4") is False
    ahead.close()
    assert ahead.parts_ahead == 0 and unfinished(media) == []


def test_removing_a_tasks_files_also_aborts_its_unfinished_uploads(media):
    # GIVEN a task with a stored file and an upload a killed job left, and another task's upload
    media._s3.put_object(Bucket=media.bucket, Key=media_key("T1", "video.mp4"), Body=b"x")
    left = media.multipart("T1", "video.mp4")
    left.start()
    left.upload_part(1, b"y" * PART)
    other = media.multipart("T2", "video.mp4")
    other.start()
    # WHEN the cleanup removes the task's files
    assert media.delete_task_files("T1") == 1
    # THEN its upload is gone too, the other task's stays
    assert [u["UploadId"] for u in unfinished(media)] == [other.upload_id]
