"""Test media made with ffmpeg at test time: mp4 files, an HLS VOD ladder, a live HLS stream, probing.

Recording a live HLS stream with yt-dlp as a library (verified with yt-dlp 2026.10.26 and ffmpeg 5.1
against LiveStream served by MediaServer):

* Extraction: the generic extractor fetches the media playlist; without ``#EXT-X-ENDLIST`` it sets
  ``is_live=True``, ``live_status='is_live'``, ``duration=None`` and appends the current date and time
  to ``title`` (use ``%(id)s`` in ``outtmpl`` for a predictable file name).
* Download: for ``is_live`` m3u8 formats yt-dlp always uses its ffmpeg downloader (FFmpegFD), which
  writes MPEG-TS and remuxes it to mp4 afterwards (FixupM3u8 post-processor). With no limit it records
  until the playlist gets ``#EXT-X-ENDLIST``, i.e. until the stream ends. FFmpegFD calls
  ``progress_hooks`` only once, with ``status='finished'``: no byte progress while recording.
* Record ``duration`` seconds with
  ``download_ranges=yt_dlp.utils.download_range_func(None, [(0, duration)])``: since the live info has
  no duration, yt-dlp sets ``section_start=0, section_end=duration`` and FFmpegFD passes ``-t duration``
  as an input option (leave ``force_keyframes_at_cuts`` off: it would re-encode). Equivalent without
  sections: ``external_downloader_args={'ffmpeg_i': ['-t', str(duration)]}``. The file lasts
  ``duration`` s (measured 6.02 s for 6, 10.02 s for 10). ffmpeg's HLS demuxer starts 3 segments
  behind the live edge, so those arrive at once: with 1 s segments, 10 s took 8.7 s of wall time and
  6 s took 4.4 s.
* ``live_from_start=True`` fails for generic live HLS: no format has ``is_from_start``, so every format
  is filtered out and extract_info raises DownloadError "--live-from-start is passed, but there are no
  formats that can be downloaded from the start". Only some site extractors (YouTube, Twitch, ...)
  support it; keep it False (the default).
* ``quiet=True`` alone still prints ``[download]`` progress lines from a library call; also pass
  ``noprogress=True`` (the CLI derives it from ``--quiet``, the library does not).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"

PathLike = str | os.PathLike[str]

# x264 with -profile:v baseline sets constraint_set0/1 -> avc1.42C0xx; level 3.0 -> 0x1E.
H264_CODEC = "avc1.42c01e"
AAC_CODEC = "mp4a.40.2"
AAC_PRIMING_SECONDS = 1024 / 48000


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe failed; the message carries its stderr."""


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run a command, raising FFmpegError with its stderr on failure."""
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise FFmpegError(f"{' '.join(args)}\nexit {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc


def _ffmpeg(*args: str, timeout: float = 120) -> None:
    """Run ffmpeg quietly with overwrite enabled."""
    _run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], timeout=timeout)


def _width_for(height: int) -> int:
    """Return the even 16:9 width for a height (360 -> 640, 240 -> 426)."""
    return int(height * 16 / 9) // 2 * 2


def _av_inputs(seconds: float, width: int, height: int, fps: int) -> list[str]:
    """Return ffmpeg input args for a lavfi test picture and a 440 Hz tone."""
    return [
        "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
    ]


def _gop_args(keyint: int) -> list[str]:
    """Return x264 args for a fixed GOP of `keyint` frames (no scene-cut keyframes)."""
    return ["-g", str(keyint), "-keyint_min", str(keyint), "-sc_threshold", "0"]


def make_mp4(
    path: PathLike, seconds: float = 60, height: int = 360, fps: int = 25, keyint: int | None = None
) -> Path:
    """Write an H.264/AAC faststart mp4; keyint = GOP in frames (2 s GOP: 2*fps; None: x264 default 250)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    gop = _gop_args(keyint) if keyint else []
    _ffmpeg(
        *_av_inputs(seconds, _width_for(height), height, fps),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *gop,
        "-c:a", "aac", "-b:a", "64k", "-ac", "2",
        "-movflags", "+faststart", "-shortest", str(out),
    )
    return out


def make_large_mp4(path: PathLike, megabytes: float = 300, height: int = 720, fps: int = 25) -> Path:
    """Write a valid ~`megabytes` MB (10**6 bytes) mp4 of noisy 720p video (~4-5 MB/s) in a few seconds."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    chunk_seconds = 2
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".large-") as tmp:
        chunk = Path(tmp) / "chunk.mp4"
        # Noise defeats compression; one 2 s GOP is encoded once, then looped by stream copy.
        _ffmpeg(
            "-f", "lavfi", "-i",
            f"testsrc2=size={_width_for(height)}x{height}:rate={fps}:duration={chunk_seconds},"
            "noise=alls=20:allf=t+u",
            "-an", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "26", "-pix_fmt", "yuv420p",
            *_gop_args(chunk_seconds * fps), str(chunk),
        )
        audio_bytes_per_sec = 128_000 / 8
        bytes_per_sec = chunk.stat().st_size / chunk_seconds + audio_bytes_per_sec
        total = f"{max(megabytes * 1_000_000 / bytes_per_sec, 1.0):.3f}"
        _ffmpeg(
            "-stream_loop", "-1", "-i", str(chunk),
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-t", total, "-movflags", "+faststart", str(out),
            timeout=300,
        )
    return out


def _media_playlist_rate(playlist: Path) -> tuple[int, int]:
    """Return (peak, average) bits/s of a VOD media playlist from its segment sizes."""
    durations: list[float] = []
    peak = 0.0
    total_bits = 0
    pending: float | None = None
    for line in playlist.read_text().splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            bits = (playlist.parent / line).stat().st_size * 8
            total_bits += bits
            durations.append(pending)
            peak = max(peak, bits / pending if pending > 0 else 0)
            pending = None
    average = total_bits / sum(durations) if durations else 0
    return int(peak), int(average)


def make_hls_vod(dir: PathLike, seconds: float = 20, fps: int = 25, segment_seconds: int = 2) -> Path:  # noqa: A002
    """Write an HLS VOD ladder (240p+360p video-only, one AAC audio rendition); return master.m3u8."""
    root = Path(dir)
    renditions = {"v240": (426, 240, "300k"), "v360": (640, 360, "800k")}
    for name in [*renditions, "audio"]:
        (root / name).mkdir(parents=True, exist_ok=True)

    def hls_out(name: str) -> list[str]:
        return [
            "-f", "hls", "-hls_time", str(segment_seconds), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(root / name / "seg_%03d.ts"), str(root / name / "index.m3u8"),
        ]

    video_outputs: list[str] = []
    for name, (width, height, bitrate) in renditions.items():
        video_outputs += [
            "-map", f"[{name}]", "-an",
            "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-level:v", "3.0",
            "-pix_fmt", "yuv420p", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
            *_gop_args(segment_seconds * fps), *hls_out(name),
        ]
    _ffmpeg(
        *_av_inputs(seconds, 640, 360, fps),
        "-filter_complex", "[0:v]split=2[a][b];[a]scale=426:240[v240];[b]null[v360]",
        *video_outputs,
        # -t drops the AAC priming overshoot so audio ends with the video (no 20 ms tail segment).
        "-map", "1:a", "-vn", "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-ar", "48000",
        "-t", f"{seconds - AAC_PRIMING_SECONDS:.4f}", *hls_out("audio"),
    )

    audio_peak, audio_avg = _media_playlist_rate(root / "audio" / "index.m3u8")
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",'
        'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
    ]
    for name, (width, height, _) in renditions.items():
        peak, avg = _media_playlist_rate(root / name / "index.m3u8")
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak + audio_peak},AVERAGE-BANDWIDTH={avg + audio_avg},"
            f'RESOLUTION={width}x{height},FRAME-RATE={fps:.3f},CODECS="{H264_CODEC},{AAC_CODEC}",AUDIO="aud"',
            f"{name}/index.m3u8",
        ]
    master = root / "master.m3u8"
    master.write_text("\n".join(lines) + "\n")
    return master


class LiveStream:
    """Context manager running `ffmpeg -re` that publishes a live HLS playlist (no ENDLIST) into a dir."""

    def __init__(
        self,
        dir: PathLike,  # noqa: A002
        playlist_name: str = "live.m3u8",
        width: int = 320,
        height: int = 240,
        fps: int = 25,
        segment_seconds: int = 1,
        list_size: int = 10,
        min_segments: int = 3,
        startup_timeout: float = 20,
    ) -> None:
        self.dir = Path(dir)
        self.playlist_path = self.dir / playlist_name
        self.width, self.height, self.fps = width, height, fps
        self.segment_seconds = segment_seconds
        self.list_size = list_size
        self.min_segments = min_segments
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        """Return the ffmpeg command line that produces the live stream."""
        source = f"testsrc=size={self.width}x{self.height}:rate={self.fps}"
        return [
            FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-re", "-f", "lavfi", "-i", source,
            "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-b:v", "300k", *_gop_args(self.segment_seconds * self.fps),
            "-c:a", "aac", "-b:a", "64k", "-ac", "2",
            "-f", "hls", "-hls_time", str(self.segment_seconds), "-hls_list_size", str(self.list_size),
            "-hls_flags", "delete_segments+temp_file",
            "-hls_segment_filename", str(self.dir / "seg_%05d.ts"), str(self.playlist_path),
        ]

    def segment_count(self) -> int:
        """Return how many segments the playlist currently lists (0 if not written yet)."""
        try:
            return self.playlist_path.read_text().count("#EXTINF:")
        except (FileNotFoundError, UnicodeDecodeError):
            return 0

    def media_sequence(self) -> int:
        """Return the playlist's current #EXT-X-MEDIA-SEQUENCE (0 if absent)."""
        try:
            match = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", self.playlist_path.read_text())
        except FileNotFoundError:
            return 0
        return int(match.group(1)) if match else 0

    def wait_for_segments(self, count: int, timeout: float) -> None:
        """Block until the playlist lists `count` segments; raise on timeout or ffmpeg exit."""
        deadline = time.monotonic() + timeout
        while self.segment_count() < count:
            if self.process is not None and self.process.poll() is not None:
                raise FFmpegError(f"live ffmpeg exited with {self.process.returncode}: {self._stderr()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.playlist_path} has < {count} segments after {timeout}s")
            time.sleep(0.1)

    def start(self) -> LiveStream:
        """Start ffmpeg and wait for `min_segments` segments; returns self."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=self._log)
        try:
            self.wait_for_segments(self.min_segments, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate ffmpeg (it then appends #EXT-X-ENDLIST) and wait for it."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __enter__(self) -> LiveStream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def probe(path: PathLike) -> dict[str, Any]:
    """Return duration, streams, first video/audio stream summary and format_name from ffprobe."""
    proc = _run([FFPROBE, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
                timeout=60)
    data = json.loads(proc.stdout or b"{}")
    streams: list[dict[str, Any]] = data.get("streams") or []
    fmt: dict[str, Any] = data.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _to_float(fmt.get("duration"))
    if duration is None:
        duration = max((_to_float(s.get("duration")) or 0.0 for s in streams), default=0.0)
    return {
        "duration": duration,
        "streams": streams,
        "video": None if video is None else {
            "codec_name": video.get("codec_name"),
            "width": video.get("width"),
            "height": video.get("height"),
            "fps": _fraction(video.get("avg_frame_rate")),
        },
        "audio": None if audio is None else {
            "codec_name": audio.get("codec_name"),
            "channels": audio.get("channels"),
            "sample_rate": _to_float(audio.get("sample_rate")),
        },
        "format_name": fmt.get("format_name"),
        "size": int(fmt["size"]) if fmt.get("size") else None,
    }


def _to_float(value: Any) -> float | None:
    """Convert ffprobe's string numbers to float, None if absent or 'N/A'."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fraction(value: str | None) -> float | None:
    """Convert '25/1' style rates to float."""
    if not value or "/" not in value:
        return _to_float(value)
    num, den = value.split("/", 1)
    return float(num) / float(den) if float(den) else None


def av1_encoder() -> str | None:
    """The AV1 encoder this ffmpeg has (fastest first), or None."""
    proc = _run([FFMPEG, "-hide_banner", "-encoders"], timeout=30)
    names = {line.split()[1] for line in proc.stdout.decode(errors="replace").splitlines() if len(line.split()) > 1}
    return next((name for name in ("libsvtav1", "libaom-av1") if name in names), None)


def _av1_args(encoder: str, i: str = "") -> list[str]:
    if encoder == "libsvtav1":
        return [f"-c:v{i}", "libsvtav1", f"-preset{i}", "12", f"-crf{i}", "45", f"-pix_fmt{i}", "yuv420p"]
    return [f"-c:v{i}", "libaom-av1", f"-cpu-used{i}", "8", f"-row-mt{i}", "1", f"-crf{i}", "45", f"-b:v{i}", "0"]


def _vp9_args(i: str = "") -> list[str]:
    return [f"-c:v{i}", "libvpx-vp9", f"-deadline{i}", "realtime", f"-cpu-used{i}", "8", f"-b:v{i}", "200k"]


def _h264_args(i: str = "") -> list[str]:
    return [f"-c:v{i}", "libx264", f"-preset{i}", "ultrafast", f"-pix_fmt{i}", "yuv420p"]


def make_dash_vod(dir: PathLike, seconds: float = 8, fps: int = 25, segment_seconds: int = 2) -> Path:  # noqa: A002
    """Write a YouTube-like DASH VOD and return its `manifest.mpd`.

    Separate representations, one adaptation set each: VP9 at 240p and 144p, H.264 240p, AV1 240p when this
    ffmpeg has an AV1 encoder, and Opus and AAC audio.
    """
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    av1 = av1_encoder()
    renditions: list[tuple[int, Any]] = [(240, _vp9_args), (144, _vp9_args), (240, _h264_args)]
    if av1:
        renditions.append((240, lambda i: _av1_args(av1, i)))
    count = len(renditions)
    filters = [f"[0:v]split={count}" + "".join(f"[s{n}]" for n in range(count))]
    filters += [f"[s{n}]scale={_width_for(h)}:{h}[v{n}]" for n, (h, _) in enumerate(renditions)]
    outputs: list[str] = []
    for n, (_, codec) in enumerate(renditions):
        outputs += ["-map", f"[v{n}]", *codec(f":{n}")]
    outputs += ["-map", "1:a", "-c:a:0", "libopus", "-b:a:0", "64k", "-map", "1:a", "-c:a:1", "aac", "-b:a:1", "64k"]
    sets = " ".join(f"id={n},streams={n}" for n in range(count + 2))
    manifest = root / "manifest.mpd"
    _ffmpeg(
        *_av_inputs(seconds, _width_for(240), 240, fps),
        "-filter_complex", ";".join(filters), *outputs, *_gop_args(segment_seconds * fps), "-ac", "2", "-ar", "48000",
        "-f", "dash", "-seg_duration", str(segment_seconds), "-use_template", "1", "-use_timeline", "0",
        "-dash_segment_type", "auto", "-adaptation_sets", sets, str(manifest),
        timeout=300,
    )
    return manifest


def make_webm(path: PathLike, seconds: float = 4, height: int = 240, fps: int = 25) -> Path:
    """Write a progressive VP9/Opus webm (no H.264 or AAC anywhere)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        *_av_inputs(seconds, _width_for(height), height, fps), "-map", "0:v", "-map", "1:a",
        *_vp9_args(), *_gop_args(2 * fps), "-c:a", "libopus", "-b:a", "64k", "-ac", "2", str(out),
        timeout=120,
    )
    return out
