"""The last step of a job: put the download into the container the user asked for.

Streams the target container can hold are copied; only the others are re-encoded, to the container's usual
codec. yt-dlp's own remuxer cannot do this (it stream-copies into mov and fails on VP9/Opus) and its audio
extractor names raw ADTS `.m4a` and mangles ALAC, so both are decided here from what ffprobe finds in the file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from functions.worker.download.errors import PermanentJobError

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"

H264 = ("libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p")
VP9 = ("libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "0", "-crf", "33")
AAC = ("aac", "-b:a", "192k")


@dataclass(frozen=True)
class Target:
    """A container: its file extension, ffmpeg muxer, the codecs it holds as they are, and what to encode to."""

    ext: str
    muxer: str
    video: frozenset[str] | None  # None: any codec (Matroska)
    audio: frozenset[str] | None
    video_encoder: tuple[str, ...] = H264
    audio_encoder: tuple[str, ...] = AAC
    flags: tuple[str, ...] = ()


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


VIDEO_TARGETS: dict[str, Target] = {
    "mp4": Target("mp4", "mp4", _set("h264", "hevc", "av1", "vp9"), _set("aac", "mp3", "opus", "flac", "alac"), flags=("-movflags", "+faststart")),
    # QuickTime players take neither VP9/AV1 nor Opus in mov (ffmpeg: "vp9 only supported in MP4").
    "mov": Target("mov", "mov", _set("h264", "hevc", "mjpeg", "prores"), _set("aac", "alac", "mp3", "pcm_s16le"), flags=("-movflags", "+faststart")),
    "mkv": Target("mkv", "matroska", None, None),
    "webm": Target("webm", "webm", _set("vp8", "vp9", "av1"), _set("opus", "vorbis"), VP9, ("libopus", "-b:a", "128k")),
}
AUDIO_TARGETS: dict[str, Target] = {
    "mp3": Target("mp3", "mp3", None, _set("mp3"), audio_encoder=("libmp3lame", "-q:a", "2")),
    "m4a": Target("m4a", "ipod", None, _set("aac"), flags=("-movflags", "+faststart")),
    "aac": Target("aac", "adts", None, _set("aac")),  # raw ADTS, named for what it is
    "opus": Target("opus", "opus", None, _set("opus"), audio_encoder=("libopus", "-b:a", "128k")),
    "flac": Target("flac", "flac", None, _set("flac"), audio_encoder=("flac",)),
    "wav": Target("wav", "wav", None, _set("pcm_s16le"), audio_encoder=("pcm_s16le",)),
    "ogg": Target("ogg", "ogg", None, _set("vorbis"), audio_encoder=("libvorbis", "-q:a", "5")),
    "vorbis": Target("ogg", "ogg", None, _set("vorbis"), audio_encoder=("libvorbis", "-q:a", "5")),
    "alac": Target("m4a", "ipod", None, _set("alac"), audio_encoder=("alac",), flags=("-movflags", "+faststart")),
}


def stream_codecs(path: Path, timeout: float | None = 60) -> tuple[str | None, str | None]:
    """The codec names of the file's first video (not a cover picture) and first audio stream."""
    args = [FFPROBE, "-v", "error", "-print_format", "json", "-show_streams", "-protocol_whitelist", "file", str(path)]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    streams = json.loads(proc.stdout or b"{}").get("streams") or []
    video = next((s.get("codec_name") for s in streams
                  if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s.get("codec_name") for s in streams if s.get("codec_type") == "audio"), None)
    return video, audio


def media_duration(path: Path, timeout: float | None = 60) -> float | None:
    """The file's length in seconds from its container, None when ffprobe cannot tell."""
    args = [FFPROBE, "-v", "error", "-print_format", "json", "-show_format", "-protocol_whitelist", "file", str(path)]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    try:
        return float((json.loads(proc.stdout or b"{}").get("format") or {}).get("duration"))
    except (TypeError, ValueError):
        return None


def plan_args(target: Target, video: str | None, audio: str | None, keep_video: bool) -> list[str]:
    """ffmpeg's mapping and codec arguments: copy what the target holds, encode the rest (pure)."""
    args: list[str] = []
    if keep_video and video:
        fits = target.video is None or video in target.video
        args += ["-map", "0:v:0", "-c:v", "copy"] if fits else ["-map", "0:v:0", "-c:v", *target.video_encoder]
    if audio:
        fits = target.audio is None or audio in target.audio
        args += ["-map", "0:a:0", "-c:a", "copy"] if fits else ["-map", "0:a:0", "-c:a", *target.audio_encoder]
    return args


def _fits(target: Target, video: str | None, audio: str | None, audio_only: bool) -> bool:
    if audio_only and video:
        return False
    video_ok = audio_only or target.video is None or video in target.video
    return video_ok and (audio is None or target.audio is None or audio in target.audio)


# Subtitle codec each target takes embedded text subtitles in; cover art (an attached picture) the targets can hold.
_SUBTITLE_CODEC = {"mp4": "mov_text", "mov": "mov_text", "mkv": "srt", "webm": "webvtt"}
_COVER_ART = frozenset({"mp4", "mov", "mkv", "mp3", "m4a", "alac", "flac"})


def extra_streams(path: Path, timeout: float | None = 60) -> tuple[list[int], int, int]:
    """(indices of attached pictures, number of subtitle streams, number of attachments) of a file."""
    args = [FFPROBE, "-v", "error", "-print_format", "json", "-show_streams", "-protocol_whitelist", "file", str(path)]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    streams = json.loads(proc.stdout or b"{}").get("streams") or []
    pics = [int(s["index"]) for s in streams if s.get("codec_type") == "video" and (s.get("disposition") or {}).get("attached_pic")]
    subs = sum(1 for s in streams if s.get("codec_type") == "subtitle")
    attachments = sum(1 for s in streams if s.get("codec_type") == "attachment")
    return pics, subs, attachments


def keep_args(output: str, video: str | None, pics: list[int], subs: int, attachments: int) -> list[str]:
    """ffmpeg arguments that carry tags, chapters, subtitles and cover art over into `output` (pure)."""
    args = ["-map_metadata", "0", "-map_chapters", "0"]
    if pics and output in _COVER_ART and output != "mkv":  # Matroska: an attachment instead (see to_container)
        first = 1 if video and output in VIDEO_TARGETS else 0  # the cover comes after the main picture, if any
        args += ["-map", f"0:{pics[0]}", f"-c:v:{first}", "copy", f"-disposition:v:{first}", "attached_pic"]
    if subs and output in _SUBTITLE_CODEC:
        args += ["-map", "0:s", "-c:s", _SUBTITLE_CODEC[output]]
    else:
        args += ["-sn"]
    if attachments and output == "mkv":
        args += ["-map", "0:t", "-c:t", "copy"]
    if output == "mp3":
        args += ["-id3v2_version", "3"]
    return args


def to_container(src: Path, output: str, *, max_filesize: int | None = None, timeout: float | None = None, keep: bool = False) -> Path:
    """Turn the download into `<stem>.<ext>` for the output format; returns the new file (src is removed)."""
    audio_only = output in AUDIO_TARGETS
    target = AUDIO_TARGETS[output] if audio_only else VIDEO_TARGETS[output]
    video, audio = stream_codecs(src)
    if audio_only and not audio:
        raise PermanentJobError(f"The media has no sound to make {output} from")
    if not audio_only and not video:
        raise PermanentJobError(f"The media has no picture to make {output} from")
    dst = src.with_name(f"{src.stem}.{target.ext}")
    if src == dst and _fits(target, video, audio, audio_only):
        return src  # already what was asked for: no second pass over a large file
    work = src.with_name(f"{src.stem}.converting.{target.ext}")
    # Embedded side outputs (subtitles, cover art, tags) were asked for: carry them over, else drop them.
    extras = ["-sn", "-map_metadata", "-1"]
    cover: Path | None = None
    if keep:
        pics, subs, attachments = extra_streams(src)
        extras = keep_args(output, video, pics, subs, attachments)
        if pics and output == "mkv":
            # Matroska holds cover art as an image attachment (its demuxer shows it as an attached picture again).
            cover = _extract_cover(src, pics[0], timeout)
            if cover is not None:
                extras += ["-attach", str(cover), f"-metadata:s:t:{attachments}", "mimetype=image/jpeg", f"-metadata:s:t:{attachments}", "filename=cover.jpg"]
    args = [
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "file", "-i", str(src),
        *plan_args(target, video, audio, keep_video=not audio_only), "-dn", *extras, *target.flags,
    ]
    if max_filesize:
        args += ["-fs", str(max_filesize)]
    args += ["-f", target.muxer, str(work)]
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        work.unlink(missing_ok=True)
        raise PermanentJobError(f"Converting to {output} took too long") from err
    if proc.returncode != 0:
        work.unlink(missing_ok=True)
        detail = " ".join(proc.stderr.decode(errors="replace").split())[-300:]
        raise PermanentJobError(f"Converting to {output} failed: {detail}")
    src.unlink(missing_ok=True)
    if cover is not None:
        cover.unlink(missing_ok=True)
    work.replace(dst)
    return dst


def _extract_cover(src: Path, index: int, timeout: float | None) -> Path | None:
    """The file's attached picture as a JPEG next to it; None when ffmpeg cannot get it out."""
    cover = src.with_name(f"{src.stem}.cover.jpg")
    args = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "file", "-i", str(src),
            "-map", f"0:{index}", "-frames:v", "1", "-c:v", "mjpeg", "-f", "image2", str(cover)]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    return cover if proc.returncode == 0 and cover.is_file() else None
