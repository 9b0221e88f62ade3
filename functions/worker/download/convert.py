"""Post-steps yt-dlp has no postprocessor for: a palette-based GIF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from functions.worker.download.errors import PermanentJobError
from functions.worker.download.options import GifSpec

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"


def gif_filter(spec: GifSpec) -> str:
    """One pass: bounded frame rate and width (never upscaled), a palette made for this clip, then applied."""
    return (
        f"fps={spec.fps},scale='min({spec.max_width},iw)':-1:flags=lanczos,split[a][b];"
        "[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=5"
    )


def to_gif(src: Path, dst: Path, spec: GifSpec, timeout: float | None = None) -> None:
    """Convert a local video to an animated GIF with ffmpeg (local files only: no network, no other protocols)."""
    args = [
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file", "-i", str(src),
        "-filter_complex", gif_filter(spec), "-an", "-loop", "0", "-f", "gif", str(dst),
    ]
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise PermanentJobError("GIF conversion took too long") from err
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.decode(errors="replace").split())[-300:]
        raise PermanentJobError(f"GIF conversion failed: {detail}")
