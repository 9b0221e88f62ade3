"""The side outputs' yt-dlp options (pure): subtitles, thumbnail, metadata and SponsorBlock, in yt-dlp's order."""

from __future__ import annotations

from pathlib import Path

from functions.worker.download.options import build_plan
from functions.worker.playlist import entries_from, file_stem, flat_options


def plan(params: dict, task_type: str = "get_video", **kwargs):
    return build_plan({"task_id": "t", "task_type": task_type, "params": params}, Path("/scratch/t"), **kwargs)


def keys(p) -> list[str]:
    return [pp["key"] for pp in p.ydl_opts.get("postprocessors") or []]


def test_extras_none_asked_adds_nothing():
    p = plan({})
    assert "writesubtitles" not in p.ydl_opts and "writethumbnail" not in p.ydl_opts and keys(p) == []
    assert p.keep_streams is False


def test_extras_subtitles_are_written_with_fixed_names():
    p = plan({"subtitles": ["en", "pt-BR"], "auto_subtitles": True, "subtitle_format": "srt"})
    o = p.ydl_opts
    assert o["writesubtitles"] and o["writeautomaticsub"] and o["subtitleslangs"] == ["en", "pt-BR"]
    assert o["outtmpl"]["subtitle"] == "subtitles.%(ext)s" and o["outtmpl"]["default"] == "video.%(ext)s"
    assert o["postprocessors"][0] == {"key": "FFmpegSubtitlesConvertor", "format": "srt", "when": "before_dl"}


def test_extras_embedding_without_languages_takes_all_and_keeps_streams():
    p = plan({"embed_subtitles": True})
    assert p.ydl_opts["subtitleslangs"] == ["all"] and "FFmpegEmbedSubtitle" in keys(p) and p.keep_streams


def test_extras_postprocessors_follow_ytdlps_order():
    p = plan({"sponsorblock_remove": ["sponsor", "intro"], "embed_metadata": True, "embed_thumbnail": True, "subtitles": "all", "embed_subtitles": True},
             sponsorblock_api="http://127.0.0.1:9")
    assert keys(p) == ["SponsorBlock", "FFmpegSubtitlesConvertor", "FFmpegThumbnailsConvertor", "ModifyChapters", "FFmpegMetadata", "FFmpegEmbedSubtitle", "EmbedThumbnail"]
    sponsor = p.ydl_opts["postprocessors"][0]
    assert sponsor["api"] == "http://127.0.0.1:9" and sponsor["categories"] == ["sponsor", "intro"] and sponsor["when"] == "after_filter"
    assert p.ydl_opts["postprocessors"][3]["remove_sponsor_segments"] == ["sponsor", "intro"]


def test_extras_audio_keeps_its_extraction_between_converters_and_embedding():
    p = plan({"thumbnail": True, "embed_thumbnail": True}, task_type="get_audio")
    assert keys(p) == ["FFmpegThumbnailsConvertor", "FFmpegExtractAudio", "EmbedThumbnail"]
    assert p.ydl_opts["outtmpl"]["thumbnail"] == "thumbnail.%(ext)s"


def test_extras_live_recordings_get_none():
    p = plan({"duration": 10, "subtitles": ["en"]}, task_type="get_live_video")
    assert "writesubtitles" not in p.ydl_opts


def test_playlist_entry_inside_a_page_is_that_item_of_the_page():
    p = plan({"playlist_item": 3})
    assert p.ydl_opts["playlist_items"] == "3" and p.ydl_opts["noplaylist"] is False
    assert plan({}).ydl_opts["playlist_items"] == "1"  # get_video on a playlist: its first entry, as before


def test_playlist_flat_options_fetch_one_more_than_the_limit_to_see_a_cut():
    assert flat_options({}, 50)["playlist_items"] == "1:51"
    assert flat_options({"items": "2-3"}, 50)["playlist_items"] == "2-3"
    assert flat_options({}, 5)["extract_flat"] == "in_playlist"


def test_playlist_entries_from_a_flat_listing():
    info = {"_type": "playlist", "requested_entries": [2, 3], "playlist_count": 9, "entries": [
        {"_type": "url_transparent", "url": "http://h/e2.mp4", "title": "Two"},
        {"url": "http://h/e3.mp4", "title": "Three", "playlist_index": 3},
    ]}
    entries, cut, count = entries_from(info, "http://h/page", max_items=1)
    assert entries == [{"index": 2, "title": "Two", "url": "http://h/e2.mp4", "item": None}] and cut and count == 9
    entries, cut, _ = entries_from(info, "http://h/page", max_items=5)
    assert entries[1] == {"index": 3, "title": "Three", "url": "http://h/page", "item": 3} and not cut
    single, cut, _ = entries_from({"title": "Solo", "id": "x"}, "http://h/v", 5)
    assert single == [{"index": 1, "title": "Solo", "url": "http://h/v", "item": None}]


def test_playlist_file_stems_are_safe_and_padded():
    assert file_stem(3, "Episode: one / two?", 2) == "03-Episode_-_one_two"
    assert file_stem(12, "../../etc/passwd", 3) == "012-etc_passwd"
    assert file_stem(1, "///", 2) == "01-entry"


def test_extras_subtitle_languages_that_are_not_plain_names_are_dropped(tmp_path):
    # GIVEN a page whose subtitle "language" is a path (it would become part of the file name)
    from functions.worker.download.runner import ConfinedYoutubeDL

    subs = {"en": [{"url": "http://h/en.vtt", "ext": "vtt"}], "../../evil": [{"url": "http://h/x.vtt", "ext": "vtt"}]}
    with ConfinedYoutubeDL({"writesubtitles": True, "subtitleslangs": ["all"], "quiet": True}, root=tmp_path) as ydl:
        chosen = ydl.process_subtitles("id", subs, None)
    # THEN only the plain language is fetched
    assert list(chosen) == ["en"]
