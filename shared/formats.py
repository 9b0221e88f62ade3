"""Output formats the API accepts and the worker produces: one list, read by both."""

from __future__ import annotations

VIDEO_OUTPUTS: tuple[str, ...] = ("mp4", "mkv", "webm", "mov", "gif")

# Audio output name -> yt-dlp's FFmpegExtractAudio codec name (its file extension differs for some).
AUDIO_CODECS: dict[str, str] = {
    "mp3": "mp3",
    "m4a": "m4a",
    "opus": "opus",
    "flac": "flac",
    "wav": "wav",
    "aac": "aac",
    "ogg": "vorbis",
    "vorbis": "vorbis",
    "alac": "alac",
}
AUDIO_OUTPUTS: tuple[str, ...] = tuple(AUDIO_CODECS)
