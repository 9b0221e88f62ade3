"""Imported by the forkserver only (never by the worker itself): load and warm what every job needs.

Each job child is a fork of the forkserver, so whatever is imported and cached here costs a job nothing:
yt-dlp with its extractors and postprocessors, the ffmpeg/ffprobe version probe yt-dlp caches per process,
botocore's service models for the clients a job builds, and the runner.
"""

from __future__ import annotations

import yt_dlp
from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

from functions.worker.download import runner  # noqa: F401  (imported for the children, with boto3 and botocore)
from shared.aws import make_client
from shared.config import Settings


def _warm() -> None:
    # Instantiating YoutubeDL loads the extractor classes; the version probe runs ffmpeg/ffprobe once.
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}):
        pass
    ffmpeg = FFmpegPostProcessor()
    _ = ffmpeg.available, ffmpeg.probe_available
    # Building a client once fills the process's shared botocore loader (service models, endpoint rules):
    # the clients each job builds then cost a few milliseconds instead of ~50.
    offline = Settings.model_construct(aws_region="us-east-1", aws_endpoint_url=None)
    for service in ("dynamodb", "s3"):
        make_client(service, offline)


_warm()
