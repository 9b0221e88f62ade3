"""Imported by the forkserver only (never by the worker itself): load and warm what every job needs.

Each job child is a fork of the forkserver, so whatever is imported and cached here costs a job nothing:
yt-dlp with its extractors and postprocessors, the ffmpeg/ffprobe version probe yt-dlp caches per process,
boto3/botocore and the runner.
"""

from __future__ import annotations

import boto3  # noqa: F401  (imported for the children)
import botocore.session  # noqa: F401
import yt_dlp
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

from functions.worker import runner  # noqa: F401


def _warm() -> None:
    # Instantiating YoutubeDL loads the extractor classes; the version probe runs ffmpeg/ffprobe once.
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}):
        pass
    ffmpeg = FFmpegPostProcessor()
    _ = ffmpeg.available, ffmpeg.probe_available


_warm()
