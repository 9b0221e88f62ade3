"""sponsorblock_remove: the options build_plan makes, run by yt-dlp's own postprocessors on a YouTube-like info dict
against a loopback stand-in of the SponsorBlock API (SPONSORBLOCK_API), cut the segment out of a local file.
(Extraction from YouTube itself cannot run offline; everything after it does.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from yt_dlp import YoutubeDL

from functions.worker.download.options import build_plan
from tests.support.http_server import MediaServer
from tests.support.media import make_mp4, probe

pytestmark = pytest.mark.integration
VIDEO_ID = "dQw4w9WgXcQ"


def test_sponsorblock_remove_cuts_the_sponsor_segment(tmp_path: Path) -> None:
    # GIVEN a stand-in SponsorBlock API on loopback that knows one sponsor segment (2 s to 5 s) of the video
    api_root = tmp_path / "api"
    prefix = hashlib.sha256(VIDEO_ID.encode()).hexdigest()[:4]
    answer = [{"videoID": VIDEO_ID, "segments": [{"segment": [2.0, 5.0], "category": "sponsor", "actionType": "skip", "UUID": "u1", "videoDuration": 8.0}]}]
    (api_root / "api" / "skipSegments").mkdir(parents=True)
    (api_root / "api" / "skipSegments" / prefix).write_text(json.dumps(answer))
    job_dir = tmp_path / "job"
    source = make_mp4(job_dir / "video.mp4", seconds=8, height=144, fps=10, keyint=10)
    with MediaServer(api_root) as server:
        # WHEN the task's options (as the worker builds them) run their postprocessors on the downloaded file
        task = {"task_id": "t", "task_type": "get_video", "params": {"sponsorblock_remove": ["sponsor"], "force_keyframes": True}}
        plan = build_plan(task, job_dir, sponsorblock_api=server.base_url)
        opts = {**plan.ydl_opts, "quiet": True}
        opts.pop("external_downloader_args", None)
        with YoutubeDL(opts) as ydl:
            info = {
                "id": VIDEO_ID, "title": "t", "extractor": "youtube", "extractor_key": "Youtube", "ext": "mp4", "duration": 8,
                "webpage_url": f"https://www.youtube.com/watch?v={VIDEO_ID}", "filepath": str(source), "__files_to_move": {},
            }
            info = ydl.run_all_pps("after_filter", info)
            ydl.post_process(str(source), info)
        asked = [r.path for r in server.requests]
    # THEN the API was asked by the id's hash prefix, and the file lost the 3 s segment
    assert asked and asked[0].startswith(f"/api/skipSegments/{prefix}?")
    assert abs(probe(source)["duration"] - 5.0) < 0.5
