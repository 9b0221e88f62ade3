"""The container step's choice: copy what the target holds, re-encode only the rest."""

from __future__ import annotations

import pytest

from functions.worker.download.containers import AUDIO_TARGETS, VIDEO_TARGETS, plan_args
from shared.formats import AUDIO_OUTPUTS, VIDEO_OUTPUTS


def test_worker_containers_cover_every_output_format():
    assert set(VIDEO_TARGETS) | {"gif"} == set(VIDEO_OUTPUTS)
    assert set(AUDIO_TARGETS) == set(AUDIO_OUTPUTS)


@pytest.mark.parametrize(
    ("output", "video", "audio", "video_copy", "audio_copy"),
    [
        ("mp4", "vp9", "opus", True, True),
        ("mp4", "h264", "aac", True, True),
        ("mov", "vp9", "opus", False, False),
        ("mov", "av1", "aac", False, True),
        ("mov", "h264", "aac", True, True),
        ("webm", "h264", "aac", False, False),
        ("webm", "av1", "opus", True, True),
        ("mkv", "av1", "aac", True, True),
    ],
)
def test_worker_containers_copy_only_what_fits(output, video, audio, video_copy, audio_copy):
    # GIVEN a download with these codecs, WHEN it goes into `output`
    args = plan_args(VIDEO_TARGETS[output], video, audio, keep_video=True)
    # THEN each stream is copied exactly when the container can hold it
    assert (args[args.index("-c:v") + 1] == "copy") is video_copy
    assert (args[args.index("-c:a") + 1] == "copy") is audio_copy


def test_worker_containers_audio_outputs_drop_the_picture_and_name_files_for_what_they_are():
    args = plan_args(AUDIO_TARGETS["aac"], "vp9", "opus", keep_video=False)
    assert "-c:v" not in args and args[args.index("-c:a") + 1] == "aac"
    assert (AUDIO_TARGETS["aac"].ext, AUDIO_TARGETS["aac"].muxer) == ("aac", "adts")
    assert (AUDIO_TARGETS["alac"].ext, AUDIO_TARGETS["alac"].audio_encoder[0]) == ("m4a", "alac")
