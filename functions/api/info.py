"""info.json as the original serves it: whole, filtered by the query's keys, or as the `qualities` table."""

from __future__ import annotations

import math
from typing import Any

from shared.errors import NotFound

_SKIPPED_NOTES = ("unknown", "storyboard")


def filter_info(info: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """No keys → everything; keys → those keys; `qualities` → the format table. NotFound when nothing matched."""
    if not keys:
        return info
    out: dict[str, Any] = {}
    for key in dict.fromkeys(keys):
        if key == "qualities":
            out["qualities"] = qualities_of(info)
        elif key in info:
            out[key] = info[key]
    if not out:
        raise NotFound("No matching parameters found")
    return out


def _number(value: Any) -> float | None:
    """A finite number, or None (missing, null, NaN, Infinity, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _int(value: Any) -> int:
    """The original's `int(...)`, with 0 where it has nothing (never null, never a crash on NaN)."""
    number = _number(value)
    return int(number) if number is not None else 0


def qualities_of(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Audio-only formats by abr and video formats by (height, fps), with the original's types and filtering.

    As in the original: ints (0, not null), formats without the field a list is sorted by are left out (audio
    without abr, video without height or fps), and so are format_note "unknown" and "storyboard".
    """
    audio: dict[str, dict[str, Any]] = {}
    video: dict[str, dict[str, Any]] = {}
    for f in info.get("formats") or []:
        if not isinstance(f, dict) or f.get("format_note") in _SKIPPED_NOTES or not f.get("format_id"):
            continue
        vcodec, acodec = f.get("vcodec"), f.get("acodec")
        filesize = _int(f.get("filesize") or f.get("filesize_approx"))
        if acodec != "none" and vcodec == "none" and _number(f.get("abr")):
            audio[str(f["format_id"])] = {
                "abr": _int(f["abr"]),
                "acodec": acodec,
                "audio_channels": _int(f.get("audio_channels")),
                "language": f.get("language"),
                "filesize": filesize,
            }
        elif vcodec != "none" and _number(f.get("height")) and _number(f.get("fps")):
            video[str(f["format_id"])] = {
                "height": _int(f["height"]),
                "width": _int(f.get("width")),
                "fps": _int(f["fps"]),
                "vcodec": vcodec,
                "format_note": f.get("format_note") or "unknown",
                "dynamic_range": f.get("dynamic_range") or "unknown",
                "filesize": filesize,
            }
    return {
        "audio": dict(sorted(audio.items(), key=lambda kv: kv[1]["abr"])),
        "video": dict(sorted(video.items(), key=lambda kv: (kv[1]["height"], kv[1]["fps"]))),
    }


def json_safe(value: Any) -> Any:
    """`value` with NaN and ±Infinity (which yt-dlp writes, and strict JSON has not) replaced by null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
