"""yt-dlp options for the side outputs (pure): subtitles, thumbnail, metadata tags, SponsorBlock cuts.

The postprocessors go in the order yt-dlp's own command line puts them (yt_dlp/__init__.py, get_postprocessors):
SponsorBlock (after_filter), the subtitle and thumbnail converters (before_dl), the audio extraction already in the
options, then ModifyChapters (cuts the segments), FFmpegMetadata, FFmpegEmbedSubtitle and EmbedThumbnail.
Files on disk keep fixed names: `subtitles.<lang>.<ext>` and `thumbnail.jpg` (a playlist entry: its own stem first).
"""

from __future__ import annotations

from typing import Any, Mapping

SUBTITLE_STEM = "subtitles"
THUMBNAIL_STEM = "thumbnail"


def wants_extras(params: Mapping[str, Any]) -> bool:
    keys = ("subtitles", "embed_subtitles", "thumbnail", "embed_thumbnail", "embed_metadata", "sponsorblock_remove")
    return any(params.get(k) for k in keys)


def add_extras(opts: dict[str, Any], params: Mapping[str, Any], *, prefix: str = "", sponsorblock_api: str | None = None) -> None:
    """Add the side outputs the task asks for to `opts` (yt-dlp's options), in place."""
    languages = params.get("subtitles")
    embed_subs = bool(params.get("embed_subtitles"))
    if embed_subs and not languages:
        languages = "all"  # embedding without a choice of languages: every one the site has
    pre: list[dict[str, Any]] = []
    post: list[dict[str, Any]] = []
    if languages:
        opts["writesubtitles"] = True
        opts["writeautomaticsub"] = bool(params.get("auto_subtitles"))
        opts["subtitleslangs"] = ["all"] if languages == "all" else list(languages)
        opts["outtmpl"]["subtitle"] = f"{prefix}{SUBTITLE_STEM}.%(ext)s"
        fmt = str(params.get("subtitle_format") or "vtt")
        opts["subtitlesformat"] = f"{fmt}/best"
        pre.append({"key": "FFmpegSubtitlesConvertor", "format": fmt, "when": "before_dl"})
    thumbnail, embed_thumb = bool(params.get("thumbnail")), bool(params.get("embed_thumbnail"))
    if thumbnail or embed_thumb:
        opts["writethumbnail"] = True
        opts["outtmpl"]["thumbnail"] = f"{prefix}{THUMBNAIL_STEM}.%(ext)s"
        pre.append({"key": "FFmpegThumbnailsConvertor", "format": "jpg", "when": "before_dl"})
    categories = list(params.get("sponsorblock_remove") or [])
    if categories:
        pre.insert(0, {"key": "SponsorBlock", "categories": categories, "api": sponsorblock_api or "https://sponsor.ajay.app", "when": "after_filter"})
        post.append({
            "key": "ModifyChapters", "remove_sponsor_segments": categories, "remove_chapters_patterns": [], "remove_ranges": [],
            "sponsorblock_chapter_title": "[SponsorBlock]: %(category_names)l", "force_keyframes": bool(params.get("force_keyframes")),
        })
    if params.get("embed_metadata"):
        post.append({"key": "FFmpegMetadata", "add_metadata": True, "add_chapters": True, "add_infojson": False})
    if embed_subs:
        post.append({"key": "FFmpegEmbedSubtitle", "already_have_subtitle": True})  # keep the files too
    if embed_thumb:
        post.append({"key": "EmbedThumbnail", "already_have_thumbnail": True})
    steps = [*pre, *(opts.get("postprocessors") or []), *post]
    if steps:  # none asked for: the options stay as they were (no empty list)
        opts["postprocessors"] = steps


def keeps_streams(params: Mapping[str, Any]) -> bool:
    """Whether the container step must carry embedded subtitles, cover art and tags over (else it drops them)."""
    return any(params.get(k) for k in ("embed_subtitles", "embed_thumbnail", "embed_metadata", "sponsorblock_remove"))
