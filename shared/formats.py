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

# Side outputs (subtitles, thumbnails, SponsorBlock): read by the API's validation and the worker's options.
SUBTITLE_FORMATS: tuple[str, ...] = ("vtt", "srt")
THUMBNAIL_VIDEO: tuple[str, ...] = ("mp4", "mkv", "mov")  # containers yt-dlp's EmbedThumbnail writes cover art into
THUMBNAIL_AUDIO: tuple[str, ...] = ("mp3", "m4a", "flac", "opus", "ogg", "vorbis", "alac")
# yt-dlp's SponsorBlockPP categories that can be cut (poi_highlight and chapter mark points, not segments).
SPONSORBLOCK_CATEGORIES: tuple[str, ...] = ("sponsor", "intro", "outro", "selfpromo", "preview", "filler", "interaction", "music_offtopic", "hook")
