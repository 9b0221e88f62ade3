"""Imported by the forkserver only (never by the worker itself): load and warm what every job needs.

Each job child is a fork of the forkserver, so whatever is imported and cached here costs a job nothing:
yt-dlp with its extractors and postprocessors, the ffmpeg/ffprobe version probe yt-dlp caches per process,
botocore's service models for the clients a job builds, and the runner.
"""

from __future__ import annotations

import os
import sys

import yt_dlp
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

from functions.worker.egress import ffmpeg_shim
from functions.worker.download import runner  # noqa: F401  (imported for the children, with boto3 and botocore)
from shared.aws import make_client
from shared.config import Settings


def _warm() -> None:
    # Instantiating YoutubeDL loads the extractor classes; the version probe runs ffmpeg/ffprobe once.
    # Jobs run ffmpeg through the egress wrappers (functions.worker.egress.ffmpeg_shim): probe those, by that path.
    os.environ.setdefault("EGRESS_PYTHON", sys.executable)
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True, "ffmpeg_location": str(ffmpeg_shim.BIN)}) as ydl:
        ffmpeg = FFmpegPostProcessor(ydl)
        _ = ffmpeg.available, ffmpeg.probe_available
    # Building a client once fills the process's shared botocore loader (service models, endpoint rules):
    # the clients each job builds then cost a few milliseconds instead of ~50.
    offline = Settings.model_construct(aws_region="us-east-1", aws_endpoint_url=None)
    for service in ("dynamodb", "s3"):
        make_client(service, offline)


_warm()
