"""The whole-playlist archive: every completed entry's media file, streamed from S3 into `playlist.zip` in S3.

Members are stored, not compressed (media is compressed already), and written through zipfile onto a multipart
upload, one part buffered at a time: the archive is never whole on disk or in memory, whatever its size.
"""

from __future__ import annotations

import time
import zipfile
from typing import Any, Callable, Mapping

from functions.worker.download.errors import PermanentJobError
from shared.models import TaskStatus
from shared.stores.media import MediaStore
from shared.stores.playlists import ZIP_NAME, entries_of

CHUNK = 1024 * 1024


def build_zip(task: Mapping[str, Any], media: MediaStore, report: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Write playlist.zip for the playlist `task`; returns its name."""
    task_id = str(task["task_id"])
    members = [str(e["file"]) for e in entries_of(dict(task)) if e.get("status") == TaskStatus.COMPLETED.value and e.get("file")]
    if not members:
        raise PermanentJobError("No entry of the playlist succeeded: nothing to put in the archive")
    with media.multipart_writer(task_id, ZIP_NAME) as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for done, name in enumerate(members):
                if report:
                    report({"stage": "zipping", "percent": round(100 * done / len(members), 1)})
                size = media.size(task_id, name)
                if size is None:
                    raise PermanentJobError(f"The entry file {name} is no longer stored")
                info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
                info.file_size = size  # so zipfile writes zip64 headers up front for members over 4 GiB
                body = media.read_stream(task_id, name)
                with archive.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as member:
                    for chunk in body.iter_chunks(CHUNK):
                        member.write(chunk)
    return ZIP_NAME
