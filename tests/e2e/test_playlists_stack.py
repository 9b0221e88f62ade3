"""get_playlist through the local stack (`make run`: dynalite, s3rver, moto SQS, real API and worker) over HTTP:
a podcast feed fanned out, every entry fetched through its signed link and the zip, all checked with ffprobe."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.e2e.conftest import Client
from tests.support.media import probe
from tests.support.playlists import make_feed

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def test_playlist_feed_through_the_local_stack(client: Client, media_server, tmp_path):
    # GIVEN a feed of 3 episodes and a key allowed to fetch playlists
    feed = make_feed(media_server, [2, 3, 2])
    key = client.new_key(["get_playlist"])
    # WHEN it is fetched as a playlist with an archive
    task = client.wait(client.submit("get_playlist", {"url": feed.url, "zip": True}, key), key, timeout=180)
    # THEN every entry is completed and each signed link gives a file of the entry's length
    assert task["status"] == "completed", task
    assert task["progress"] == {"total": 3, "completed": 3, "failed": 0}
    for entry, seconds in zip(task["entries"], feed.durations):
        path = client.download(entry["file"], key, tmp_path / entry["file"].rsplit("/", 1)[1])
        assert abs(probe(path)["duration"] - seconds) < 0.5
    # AND the archive, listed in files, holds the three entries
    assert task["file"].endswith("/playlist.zip") and any(f.endswith("/playlist.zip") for f in task["files"])
    archive = zipfile.ZipFile(io.BytesIO(client.download(task["file"], key, tmp_path / "playlist.zip").read_bytes()))
    assert len(archive.namelist()) == 3 and archive.testzip() is None
