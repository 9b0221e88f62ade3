"""Request fields for subtitles, thumbnails, metadata and SponsorBlock (get_video, get_audio, get_playlist)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.formats import SPONSORBLOCK_CATEGORIES, SUBTITLE_FORMATS, THUMBNAIL_AUDIO, THUMBNAIL_VIDEO

# BCP 47-ish: a 2-3 letter language, then subtags (en, en-US, pt-BR, zh-Hans, es-419).
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")
MAX_LANGUAGES = 20
EXTRA_FIELDS = (
    "subtitles", "auto_subtitles", "embed_subtitles", "subtitle_format", "thumbnail", "embed_thumbnail", "embed_metadata", "sponsorblock_remove",
)


class Extras(BaseModel):
    """The optional side outputs of a download; all off unless asked for."""

    KIND: ClassVar[str] = "video"

    subtitles: list[str] | Literal["all"] | None = Field(None, description='Subtitle languages to fetch (e.g. ["en", "pt-BR"]), or "all".')
    auto_subtitles: bool = Field(False, description="Also fetch automatic captions where the site has them.")
    embed_subtitles: bool = Field(False, description="Embed the subtitles into the video (mp4 or mkv); without `subtitles`, all languages.")
    subtitle_format: Literal[SUBTITLE_FORMATS] = Field("vtt", description="Subtitle files as vtt (default) or srt.")  # type: ignore[valid-type]
    thumbnail: bool = Field(False, description="Write the thumbnail as thumbnail.jpg.")
    embed_thumbnail: bool = Field(False, description="Embed the thumbnail as cover art where the container allows.")
    embed_metadata: bool = Field(False, description="Write title, artist/uploader, date and description tags, and chapters.")
    sponsorblock_remove: list[str] | None = Field(None, description="SponsorBlock categories to cut out (sources with a YouTube id).")

    @field_validator("auto_subtitles", "embed_subtitles", "thumbnail", "embed_thumbnail", "embed_metadata", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("subtitle_format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        return "vtt" if value is None else value.lower() if isinstance(value, str) else value

    @field_validator("subtitles", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() == "all":
                return "all"
            raise ValueError('subtitles must be a list of language codes or "all"')
        if isinstance(value, list):
            if not value or len(value) > MAX_LANGUAGES:
                raise ValueError(f"subtitles takes 1 to {MAX_LANGUAGES} language codes")
            for code in value:
                if not isinstance(code, str) or not LANGUAGE.match(code.strip()):
                    raise ValueError(f"unknown subtitle language {str(code)[:20]!r}: use codes like en, de, pt-BR")
            return list(dict.fromkeys(c.strip() for c in value))
        return value

    @field_validator("sponsorblock_remove", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("sponsorblock_remove needs at least one category")
            for name in value:
                if not isinstance(name, str) or name.strip().lower() not in SPONSORBLOCK_CATEGORIES:
                    raise ValueError(f"unknown SponsorBlock category {str(name)[:30]!r}; use: {', '.join(SPONSORBLOCK_CATEGORIES)}")
            return list(dict.fromkeys(n.strip().lower() for n in value))
        return value

    @model_validator(mode="after")
    def _combinations(self) -> "Extras":
        check_combinations(self, getattr(self, "kind", None) or self.KIND, getattr(self, "output_format", None))
        return self


def check_combinations(extras: Any, kind: str, output: str | None) -> None:
    """ValueError for options that cannot work together with the task's kind and output format."""
    if extras.embed_subtitles:
        if kind != "video":
            raise ValueError("embed_subtitles is for video only; use subtitles to get the files")
        if (output or "mp4") not in ("mp4", "mkv"):
            raise ValueError("embed_subtitles needs output_format mp4 or mkv")
    if extras.embed_thumbnail:
        allowed = THUMBNAIL_VIDEO if kind == "video" else THUMBNAIL_AUDIO
        if output is not None and output not in allowed:
            raise ValueError(f"embed_thumbnail cannot embed into {output}; use one of {', '.join(allowed)}")
    if extras.sponsorblock_remove and (getattr(extras, "start_time", None) is not None or getattr(extras, "end_time", None) is not None):
        raise ValueError("sponsorblock_remove cannot be combined with start_time/end_time")
    if (extras.auto_subtitles or extras.subtitle_format != "vtt") and not (extras.subtitles or extras.embed_subtitles):
        raise ValueError("auto_subtitles and subtitle_format need subtitles (the languages to fetch)")


def drop_unset(params: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters without the extras left at their defaults (status shows only what was asked)."""
    defaults = {"subtitle_format": "vtt"}
    return {k: v for k, v in params.items() if k not in EXTRA_FIELDS or (v not in (None, False) and defaults.get(k) != v)}
