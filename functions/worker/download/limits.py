"""MAX_FILESIZE and MAX_DURATION on the worker's side: refuse before downloading where yt-dlp knows the size or
length, and stop a download that grows past the size anyway (the progress hook, ffmpeg's `-fs`, the output).

The API refuses what it can see at submission; these catch what only the extraction or the download shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from functions.worker.download.errors import PermanentJobError


class LimitExceeded(PermanentJobError):
    """The media is longer or larger than this service allows."""


@dataclass(frozen=True)
class Limits:
    """The largest output (bytes) and the longest non-live media or clip (seconds) a job may produce."""

    max_filesize: int
    max_duration: float
    live: bool = False
    clip: tuple[float, float] | None = None  # (start, end); end may be math.inf

    def media_seconds(self, duration: float | None) -> float | None:
        """How many seconds of the media the job takes: the whole or the clip of it."""
        if self.clip is None:
            return duration
        start, end = self.clip
        if duration is not None:
            end = min(end, duration)
        return None if math.isinf(end) else max(0.0, end - start)

    def check_info(self, info: Mapping[str, Any]) -> None:
        """Refuse media whose length or (estimated) size is known to be over the limits."""
        live = self.live or info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming")
        duration = _number(info.get("duration")) or fragments_duration(info)
        seconds = self.media_seconds(duration)
        if not live and seconds is not None and seconds > self.max_duration:
            raise LimitExceeded(f"The media is {_hms(seconds)} long; this service takes at most {_hms(self.max_duration)}")
        size = estimated_size(info)
        if size is not None and duration and seconds is not None and self.clip is not None:
            size = size * min(1.0, seconds / duration)
        if size is not None and size > self.max_filesize:
            raise LimitExceeded(f"The file would be about {_mb(size)}; this service makes files of at most {_mb(self.max_filesize)}")

    def match_filter(self, info: Mapping[str, Any], *, incomplete: bool = False) -> None:
        """yt-dlp's match_filter: raising stops the job with a readable error (returning text would only skip)."""
        if not incomplete:
            self.check_info(info)

    def check_progress(self, downloaded: Any) -> None:
        """Stop a download whose bytes pass the limit (from yt-dlp's progress hook)."""
        done = _number(downloaded)
        if done is not None and done > self.max_filesize:
            raise LimitExceeded(f"The download passed {_mb(self.max_filesize)}, the largest file this service makes")

    def check_output(self, path: Path, duration: float | None) -> None:
        """The finished file must be under the limits (ffmpeg's `-fs` cuts at the size rather than failing; a
        source that did not say its length is measured here)."""
        if path.stat().st_size >= self.max_filesize:
            raise LimitExceeded(f"The file reached {_mb(self.max_filesize)}, the largest file this service makes")
        if not self.live and duration is not None and duration > self.max_duration + 1:
            raise LimitExceeded(f"The media is {_hms(duration)} long; this service takes at most {_hms(self.max_duration)}")

    def ydl_options(self) -> dict[str, Any]:
        """Options for yt-dlp: the filter. (Not its `max_filesize`: that skips the file without an error.)"""
        return {"match_filter": self.match_filter}


def fragments_duration(info: Mapping[str, Any]) -> float | None:
    """A manifest's length from its fragments (the generic extractor gives a DASH manifest no duration)."""
    lengths = []
    for fmt in info.get("requested_formats") or [info]:
        # The initialization fragment has no duration; the media fragments do.
        durations = [_number(f.get("duration")) for f in fmt.get("fragments") or [] if isinstance(f, Mapping)]
        known = [d for d in durations if d is not None]
        if known and len(known) >= len(durations) - 1:
            lengths.append(sum(known))
    return max(lengths) if lengths else None


def estimated_size(info: Mapping[str, Any]) -> float | None:
    """The chosen format's size in bytes (exact or approximate; the sum of merged formats), None if unknown."""
    formats = info.get("requested_formats") or [info]
    total = 0.0
    for fmt in formats:
        size = _number(fmt.get("filesize")) or _number(fmt.get("filesize_approx"))
        if size is None:
            return None
        total += size
    return total


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _mb(size: float) -> str:
    return f"{size / 1024**2:,.0f} MiB" if size >= 1024**2 else f"{int(size)} bytes"
