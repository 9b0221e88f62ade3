"""Playlist fixtures yt-dlp's generic extractor expands: an RSS feed with enclosures and an HTML page with several
<video> elements (one with a <track kind="subtitles" srclang="en"> and a poster). Media made with ffmpeg at test
time, served from a folder of the loopback media server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from tests.support.http_server import MediaServer
from tests.support.media import _ffmpeg, make_mp4

CUE_TEXT = "Hello from the first cue"
SUBTITLES_VTT = f"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n{CUE_TEXT}\n\n00:00:02.000 --> 00:00:03.000\nA second cue\n"


@dataclass(frozen=True)
class Playlist:
    url: str
    folder: Path
    durations: list[float]  # seconds of each entry, in order
    titles: list[str]


def make_clips(folder: Path, durations: list[float]) -> list[str]:
    """Small H.264/AAC mp4s `clip1.mp4`, ... of the given lengths; returns their names."""
    names = []
    for n, seconds in enumerate(durations, start=1):
        name = f"clip{n}.mp4"
        if not (folder / name).exists():
            make_mp4(folder / name, seconds=seconds, height=144, fps=10)
        names.append(name)
    return names


def make_feed(server: MediaServer, durations: list[float], missing: tuple[int, ...] = ()) -> Playlist:
    """A podcast-style RSS feed whose items' enclosures are local mp4s; the 1-based indices in `missing` answer 404."""
    folder = server.root / f"feed-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    names = make_clips(folder, durations)
    titles = [f"Episode {n}" for n in range(1, len(names) + 1)]
    items = []
    for n, (name, title) in enumerate(zip(names, titles), start=1):
        target = f"gone-{name}" if n in missing else name  # never created: the server answers 404
        url = server.url(f"{folder.name}/{target}")
        items.append(f"<item><title>{escape(title)}</title><guid>{folder.name}-{n}</guid>"
                     f'<enclosure url="{escape(url)}" type="video/mp4" length="1000"/></item>')
    feed = (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Test feed</title>'
            f"<link>{server.base_url}/</link><description>A test podcast</description>{''.join(items)}</channel></rss>\n")
    (folder / "feed.xml").write_text(feed, encoding="utf-8")
    return Playlist(server.url(f"{folder.name}/feed.xml"), folder, list(durations), titles)


def make_page(server: MediaServer, durations: list[float]) -> Playlist:
    """An HTML page with one <video> per duration; the first has an English subtitle track and a JPEG poster."""
    folder = server.root / f"page-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    names = make_clips(folder, durations)
    (folder / "subs.en.vtt").write_text(SUBTITLES_VTT, encoding="utf-8")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180", "-frames:v", "1", str(folder / "poster.jpg"))
    videos = []
    for n, name in enumerate(names, start=1):
        extra = ' poster="poster.jpg"' if n == 1 else ""
        track = '<track kind="subtitles" srclang="en" src="subs.en.vtt" label="English">' if n == 1 else ""
        videos.append(f'<video controls{extra}><source src="{name}" type="video/mp4">{track}</video>')
    page = f"<!DOCTYPE html><html><head><title>Test page</title></head><body>{''.join(videos)}</body></html>\n"
    (folder / "page.html").write_text(page, encoding="utf-8")
    return Playlist(server.url(f"{folder.name}/page.html"), folder, list(durations), [f"Test page ({n})" for n in range(1, len(names) + 1)])
