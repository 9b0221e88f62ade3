"""yt-dlp options as a pure function of a task: no I/O, no clock, testable without any network.

The runner adds what only exists at run time (logger, progress and postprocessor hooks) and, for live
recordings, the index of the HLS segment to start from, which it learns from the stream's playlist.

Live recording (verified with yt-dlp 2026.10.26 and ffmpeg 5.1 against a local `ffmpeg -re ... -f hls
-hls_flags delete_segments` stream): yt-dlp always hands a live HLS format to its ffmpeg downloader, and
``download_ranges`` with the section (0, duration) makes it pass ``-t duration`` as an *input* option, so ffmpeg
stops after `duration` seconds of media. Where to begin is the HLS demuxer's ``-live_start_index`` (negative:
segments back from the live edge), given through ``external_downloader_args['ffmpeg_i']``. ``live_from_start``
is not used: for generic HLS no format is marked ``is_from_start`` and yt-dlp would refuse every format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from yt_dlp.utils import download_range_func

from functions.worker.download.extras import add_extras, keeps_streams
from shared.formats import AUDIO_CODECS, VIDEO_OUTPUTS

if TYPE_CHECKING:
    from functions.worker.download.limits import Limits

LIVE_TYPES = frozenset({"get_live_video", "get_live_audio"})
TASK_STEMS = {
    "get_video": "video",
    "get_live_video": "video",
    "get_audio": "audio",
    "get_live_audio": "audio",
    "get_info": "info",
}
# Protocols ffmpeg may open while downloading: plain http to the job's loopback gateway (http over tcp) and
# AES-128 HLS (crypto). The gateway does the https and rewrites manifests (functions.worker.egress.playlists), so
# no tls:, httpproxy:, file:, rtmp:, udp: ... whatever a playlist says.
FFMPEG_PROTOCOLS = "http,tcp,crypto"
HTTP_RETRIES = 3


class OptionsError(ValueError):
    """The task's parameters cannot be turned into a download (a permanent failure)."""


@dataclass(frozen=True)
class GifSpec:
    """A palette-based GIF made from the downloaded video, bounded so long clips stay reasonable."""

    fps: int = 12
    max_width: int = 480


@dataclass(frozen=True)
class LiveSpec:
    """Record `duration` seconds of a live stream, beginning `start` seconds before now where its window allows."""

    start: float
    duration: float


@dataclass(frozen=True)
class JobPlan:
    """Everything the runner needs: the yt-dlp options and what to do around them."""

    ydl_opts: dict[str, Any]
    stem: str
    info_only: bool = False
    live: LiveSpec | None = None
    gif: GifSpec | None = None
    container: str | None = None  # output format the runner converts the download into (containers.py)
    limits: Limits | None = None
    keep_streams: bool = False  # the container step carries embedded subtitles, cover art and tags over


def build_plan(
    task: Mapping[str, Any],
    scratch: Path,
    *,
    socket_timeout: float = 20.0,
    proxy: str | None = None,
    ffmpeg_location: str | None = None,
    live_start_index: int | None = None,
    max_filesize: int | None = None,
    max_duration: float | None = None,
    fragment_concurrency: int = 1,
    sponsorblock_api: str | None = None,
) -> JobPlan:
    """The yt-dlp options (and post-steps) for one task, with every path inside `scratch`."""
    task_type = task.get("task_type")
    if task_type not in TASK_STEMS:
        raise OptionsError(f"Unknown task type: {task_type!r}")
    params: Mapping[str, Any] = task.get("params") or {}
    stem = TASK_STEMS[task_type]
    opts = _common_options(scratch, stem, socket_timeout, live_start_index)
    # HLS/DASH fragments in parallel through yt-dlp's own fragment downloader (servers cap each connection).
    opts["concurrent_fragment_downloads"] = max(1, int(fragment_concurrency))
    if proxy:
        opts["proxy"] = proxy  # every request handler (urllib, requests, curl_cffi, websockets) goes through it
    if ffmpeg_location:
        opts["ffmpeg_location"] = ffmpeg_location

    if task_type == "get_info":
        opts.update({"skip_download": True, "extract_flat": "in_playlist"})
        return JobPlan(ydl_opts=opts, stem=stem, info_only=True)

    opts["playlist_items"] = "1"  # a playlist URL gives its first entry, never a folder of files
    if params.get("playlist_item"):
        # A playlist entry that only exists inside its page (e.g. one of several <video>s): that entry of the page.
        opts["playlist_items"] = str(int(params["playlist_item"]))
        opts["noplaylist"] = False
    live: LiveSpec | None = None
    if task_type in LIVE_TYPES:
        live = _live_spec(params)
        # With the stream's duration unknown, yt-dlp turns this section into ffmpeg's input option `-t duration`.
        opts["download_ranges"] = download_range_func(None, [(0, live.duration)])
        opts["force_keyframes_at_cuts"] = False
    else:
        _add_clip(opts, params)

    limits = None
    if max_filesize is not None and max_duration is not None:
        limits = _add_limits(opts, params, max_filesize, max_duration, live is not None)

    gif: GifSpec | None = None
    if stem == "video":
        gif = _add_video_output(opts, params)
        container = None if gif else str(params.get("output_format") or "mp4").lower()
    else:
        container = _add_audio_output(opts, params)
    if live is None:
        add_extras(opts, params, sponsorblock_api=sponsorblock_api)
    return JobPlan(ydl_opts=opts, stem=stem, live=live, gif=gif, container=container, limits=limits, keep_streams=keeps_streams(params))


def _common_options(scratch: Path, stem: str, socket_timeout: float, live_start_index: int | None) -> dict[str, Any]:
    # A read/write timeout (microseconds), so a stalled source cannot hold ffmpeg forever.
    ffmpeg_input = ["-protocol_whitelist", FFMPEG_PROTOCOLS, "-rw_timeout", str(int(socket_timeout * 1_000_000))]
    if live_start_index is not None:
        ffmpeg_input += ["-live_start_index", str(int(live_start_index))]
    return {
        # Fixed names in the job's own folder: nothing the site says (title, id) becomes part of a path.
        "paths": {"home": str(scratch)},
        "outtmpl": {"default": f"{stem}.%(ext)s"},
        "restrictfilenames": True,
        "overwrites": True,
        "continuedl": False,
        "cachedir": False,
        "updatetime": False,
        "noplaylist": True,
        "quiet": True,
        "noprogress": True,
        "color": "never",
        "socket_timeout": socket_timeout,
        "retries": HTTP_RETRIES,
        "fragment_retries": HTTP_RETRIES,
        "extractor_retries": HTTP_RETRIES,
        # Fetch with yt-dlp's own (Python) downloaders wherever they can: those requests go through the SSRF guard
        # in-process. Clips and live streams still need ffmpeg, which is pointed at the guard's proxy instead.
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True,
        "external_downloader_args": {"ffmpeg_i": ffmpeg_input},
    }


def _add_clip(opts: dict[str, Any], params: Mapping[str, Any]) -> None:
    start = _seconds(params.get("start_time"), "start_time")
    end = _seconds(params.get("end_time"), "end_time")
    if start is None and end is None:
        return
    if start is not None and end is not None and end <= start:
        raise OptionsError("end_time must be after start_time")
    opts["download_ranges"] = download_range_func(None, [(start or 0, end if end is not None else math.inf)])
    # Cutting at exact times needs a re-encode around the cuts; without it the clip snaps to keyframes.
    opts["force_keyframes_at_cuts"] = bool(params.get("force_keyframes"))


def _add_limits(opts: dict[str, Any], params: Mapping[str, Any], max_filesize: int, max_duration: float, live: bool) -> Limits:
    from functions.worker.download.limits import Limits  # here: errors.py imports this module, limits imports errors

    clip = None
    if not live and ("start_time" in params or "end_time" in params):
        start = _seconds(params.get("start_time"), "start_time")
        end = _seconds(params.get("end_time"), "end_time")
        if start is not None or end is not None:
            clip = (float(start or 0), float(end) if end is not None else math.inf)
    limits = Limits(max_filesize=max_filesize, max_duration=max_duration, live=live, clip=clip)
    opts.update(limits.ydl_options())
    # Clips and live recordings are written by ffmpeg: it stops at the size limit by itself.
    opts["external_downloader_args"]["ffmpeg_o"] = ["-fs", str(max_filesize)]
    return limits


def _add_video_output(opts: dict[str, Any], params: Mapping[str, Any]) -> GifSpec | None:
    video_format = params.get("video_format") or "bestvideo"
    audio_format = params.get("audio_format") or "bestaudio"
    output = str(params.get("output_format") or "mp4").lower()
    if output not in VIDEO_OUTPUTS:
        raise OptionsError(f"Unsupported video output format {output!r}; use one of {', '.join(VIDEO_OUTPUTS)}")
    if output == "gif":
        # A GIF has no sound: fetch the picture only, the runner turns it into a GIF with ffmpeg afterwards.
        opts["format"] = f"{video_format}/best"
        opts["merge_output_format"] = "mkv"
        return GifSpec()
    opts["format"] = f"{video_format}+{audio_format}/best"
    # Merge straight into mp4/webm when yt-dlp finds the codecs fit, else into mkv (takes anything); the runner
    # then copies or re-encodes each stream into the target (containers.py). mov always goes through mkv.
    opts["merge_output_format"] = output if output == "mkv" else "mkv" if output == "mov" else f"{output}/mkv"
    return None


def _add_audio_output(opts: dict[str, Any], params: Mapping[str, Any]) -> str | None:
    audio_format = params.get("audio_format") or "bestaudio"
    output = params.get("output_format")
    # `/best`: a source without an audio-only format still gives its sound from the combined file.
    opts["format"] = f"{audio_format}/best"
    if output:
        if str(output).lower() not in AUDIO_CODECS:
            raise OptionsError(f"Unsupported audio output format {output!r}; use one of {', '.join(AUDIO_CODECS)}")
        return str(output).lower()  # the runner converts (containers.py): copy when the codec fits, else encode
    # Keep the source's codec, only drop the picture.
    opts["postprocessors"] = [{"key": "FFmpegExtractAudio", "preferredcodec": "best", "nopostoverwrites": False}]
    return None


def _live_spec(params: Mapping[str, Any]) -> LiveSpec:
    duration = _seconds(params.get("duration"), "duration")
    if duration is None or duration <= 0:
        raise OptionsError("duration must be a positive number of seconds")
    start = _seconds(params.get("start"), "start") or 0
    return LiveSpec(start=start, duration=duration)


def _seconds(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OptionsError(f"{name} must be a number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise OptionsError(f"{name} must be a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise OptionsError(f"{name} must be a finite, non-negative number of seconds")
    return int(seconds) if seconds.is_integer() else seconds


def live_start_index(segment_durations: list[float], start: float) -> int:
    """The HLS `-live_start_index` that begins at least `start` seconds before the live edge (bounded by the window)."""
    if start <= 0 or not segment_durations:
        return -1
    covered = 0.0
    count = 0
    for duration in reversed(segment_durations):
        count += 1
        covered += duration
        if covered >= start:
            break
    return -count


def media_playlist_durations(text: str) -> list[float]:
    """The #EXTINF durations of an HLS media playlist, in order (empty for a master playlist)."""
    durations: list[float] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            try:
                durations.append(float(line[len("#EXTINF:"):].split(",", 1)[0]))
            except ValueError:
                continue
    return durations
