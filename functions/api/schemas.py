"""Request and response bodies, as the original yt-dlp-host API names them."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from functions.api.extras import Extras
from shared.formats import AUDIO_OUTPUTS, VIDEO_OUTPUTS
from shared.models import KEY_NAME_PATTERN, PERMISSIONS
from shared.timecodes import parse_seconds
from shared.urls import MAX_URL_LENGTH

log = logging.getLogger(__name__)

MAX_FORMAT_LENGTH = 256
MAX_LIVE_SECONDS = 6 * 3600
MAX_REQUEST_LIMIT = 1_000_000
Seconds = float | int | str | None


class _Body(BaseModel):
    # Unknown fields are ignored, as the original ignores them: a client written for a newer or older server must
    # not break. Each one is logged at debug (its name only, cut short: names come from the caller).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _log_unknown(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data.keys() - cls.model_fields.keys():
                log.debug("unknown field ignored", extra={"field": str(name)[:64], "model": cls.__name__})
        return data


class UrlBody(_Body):
    url: str = Field(
        ...,
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http(s) URL of the media page or file. Refused with 400 when its host resolves to a loopback, "
        "private, link-local or other non-public address (unless the deployment allows private networks).",
        examples=["https://www.youtube.com/watch?v=dQw4w9WgXcQ"],
    )
    webhook_url: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http(s) URL that gets a signed POST (Standard Webhooks: task.completed or task.failed) when the task "
        "ends; under the same address rules as `url`. Verify it with the secret from GET /webhook_secret.",
        examples=["https://example.com/hooks/ytdlp"],
    )
    cache: bool = Field(
        True, description="Share results: false downloads afresh and shares nothing (live recordings are never shared)."
    )


def _format_field(default: str, what: str) -> Any:
    return Field(default, min_length=1, max_length=MAX_FORMAT_LENGTH, description=f"yt-dlp format selector for the {what}.")


class _Formats(_Body):
    @field_validator("video_format", "audio_format", mode="before", check_fields=False)
    @classmethod
    def _default_when_null(cls, value: Any, info: Any) -> Any:
        return cls.model_fields[info.field_name].default if value is None else value


class _Clip(_Body):
    start_time: Seconds = Field(None, description="Clip start: seconds (number or string) or MM:SS / HH:MM:SS.")
    end_time: Seconds = Field(None, description="Clip end: seconds (number or string) or MM:SS / HH:MM:SS.")
    force_keyframes: bool = Field(False, description="Cut exactly (re-encodes around the cuts); slower.")

    # Before pydantic's own coercion, which would turn `true` into 1 second; parse_seconds refuses booleans.
    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: Any) -> float | int | None:
        return parse_seconds(value, info.field_name)

    @field_validator("force_keyframes", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @model_validator(mode="after")
    def _ordered(self) -> "_Clip":
        if self.start_time is not None and self.end_time is not None and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class VideoRequest(UrlBody, _Clip, _Formats, Extras):
    video_format: str = _format_field("bestvideo", "video")
    audio_format: str = _format_field("bestaudio", "audio")
    output_format: Literal[VIDEO_OUTPUTS] = Field("mp4", description="Container of the result.")  # type: ignore[valid-type]

    @field_validator("output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return "mp4" if value is None else value.lower() if isinstance(value, str) else value


class AudioRequest(UrlBody, _Clip, _Formats, Extras):
    KIND: ClassVar[str] = "audio"
    audio_format: str = _format_field("bestaudio", "audio")
    output_format: Literal[AUDIO_OUTPUTS] | None = Field(None, description="Convert to this format; default: keep the source's.")  # type: ignore[valid-type]

    @field_validator("output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class _Live(_Body):
    start: float = Field(0, ge=0, le=MAX_LIVE_SECONDS, allow_inf_nan=False, description="Seconds back from now to start, where the stream's window allows.")
    duration: float = Field(..., gt=0, le=MAX_LIVE_SECONDS, allow_inf_nan=False, description="Seconds to record.")

    @field_validator("start", mode="before")
    @classmethod
    def _zero_when_null(cls, value: Any) -> Any:
        return 0 if value is None else value


class LiveVideoRequest(UrlBody, _Live, _Formats):
    video_format: str = _format_field("bestvideo", "video")
    audio_format: str = _format_field("bestaudio", "audio")
    output_format: Literal[VIDEO_OUTPUTS] = Field("mp4", description="Container of the result.")  # type: ignore[valid-type]

    @field_validator("output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return "mp4" if value is None else value.lower() if isinstance(value, str) else value


class LiveAudioRequest(UrlBody, _Live, _Formats):
    audio_format: str = _format_field("bestaudio", "audio")
    output_format: Literal[AUDIO_OUTPUTS] | None = Field(None, description="Convert to this format; default: keep the source's.")  # type: ignore[valid-type]

    @field_validator("output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class InfoRequest(UrlBody):
    pass


# yt-dlp's playlist_items: comma-separated indices and ranges ("1-5,8", "-3", "2:", "::2"), at most 256 characters.
_ITEM = re.compile(r"^(?:[+-]?\d+|[+-]?\d*[:-](?:[+-]?\d+|inf)?(?::[+-]?\d+)?)$")


class PlaylistRequest(UrlBody, _Formats, Extras):
    kind: Literal["video", "audio"] = Field("video", description="Download each entry as video (default) or audio.")
    items: str | None = Field(None, max_length=256, description='Which entries, in yt-dlp\'s playlist_items syntax, e.g. "1-5,8".')
    video_format: str = _format_field("bestvideo", "video")
    audio_format: str = _format_field("bestaudio", "audio")
    output_format: str | None = Field(None, description="As for get_video (default mp4) or get_audio (default: the source's), by `kind`.")
    zip: bool = Field(False, description="Also build /files/<task_id>/playlist.zip with every entry once they end.")

    @field_validator("kind", "output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("kind", mode="before")
    @classmethod
    def _video_when_null(cls, value: Any) -> Any:
        return "video" if value is None else value

    @field_validator("zip", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not all(_ITEM.match(part.strip()) for part in value.split(",")):
            raise ValueError('items must be yt-dlp playlist_items, e.g. "1-5,8" or "2:"')
        return value.replace(" ", "")

    @model_validator(mode="before")
    @classmethod
    def _output(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = str(data.get("kind") or "video").lower()
            output = data.get("output_format")
            allowed = VIDEO_OUTPUTS if kind == "video" else AUDIO_OUTPUTS
            if output is None and kind == "video":
                data = {**data, "output_format": "mp4"}
            elif output is not None and (not isinstance(output, str) or output.lower() not in allowed):
                raise ValueError(f"output_format for kind {kind} must be one of {', '.join(allowed)}")
        return data


class CreateKeyRequest(_Body):
    name: str = Field(..., min_length=1, max_length=64, pattern=KEY_NAME_PATTERN.pattern, description="Letters, digits, '.', '_' and '-'; 1 to 64 characters, starting with a letter or digit.")
    permissions: list[Literal[PERMISSIONS]] = Field(..., max_length=len(PERMISSIONS) * 4, description="Permissions of the new key.")  # type: ignore[valid-type]
    request_limit: int | None = Field(None, ge=1, le=MAX_REQUEST_LIMIT, description="Task-creating requests this key may make per window, instead of REQUEST_LIMIT.")

    @field_validator("request_limit", mode="before")
    @classmethod
    def _a_json_number(cls, value: Any) -> Any:
        # A number (1 or 1.0, as JSON Schema's integer allows), not true or "5".
        if isinstance(value, (bool, str)):
            raise ValueError("Input should be a valid integer")
        return value


class PermissionsRequest(_Body):
    permissions: list[Literal[PERMISSIONS]] = Field(..., max_length=len(PERMISSIONS) * 4)  # type: ignore[valid-type]


# -- responses


class ErrorResponse(BaseModel):
    error: str = Field(..., description="What went wrong.")


class TaskCreated(BaseModel):
    status: Literal["waiting", "completed"] = Field("waiting", description="completed: served at once from a shared result.")
    task_id: str
    cached: bool = Field(False, description="True when the task was completed from a shared result (no download).")


class KeyCreated(BaseModel):
    message: str
    key: str
    name: str


class KeyDeleted(BaseModel):
    name: str
    message: str


_KEY_LIMIT = "This key's own request limit per window; absent when REQUEST_LIMIT applies."


class KeyRevealed(BaseModel):
    message: str
    name: str
    key: str
    request_limit: int | None = Field(None, description=_KEY_LIMIT)


class KeyListing(BaseModel):
    key: str
    name: str
    permissions: list[str]
    created_at: float | None = None
    request_limit: int | None = Field(None, description=_KEY_LIMIT)


class UsageTotals(BaseModel):
    tasks: int = Field(..., description="Tasks this key created.")
    completed: int = Field(..., description="Of those, completed.")
    failed: int = Field(..., description="Of those, failed.")
    cached: int = Field(..., description="Of those, completed from a shared result without a download.")
    bytes: int = Field(..., description="Size of the outputs this key's tasks produced or were served from cache.")


class UsageResponse(BaseModel):
    name: str
    window_seconds: int = Field(..., description="The rate-limit window (TASK_CLEANUP_TIME in seconds).")
    limit: int = Field(..., description="Task-creating requests allowed per window.")
    used: int = Field(..., description="Requests counted in the current window.")
    remaining: int
    reset: int = Field(..., description="Seconds until the oldest counted request leaves the window.")
    totals: UsageTotals


class Message(BaseModel):
    message: str


class Progress(BaseModel):
    model_config = ConfigDict(extra="allow")
    stage: str | None = None
    percent: float | None = None
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    eta: float | None = None


class TaskStatusResponse(BaseModel):
    """A task as /status shows it: the request's parameters are included as sent (times in seconds)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["waiting", "processing", "completed", "error"]
    task_type: str
    url: str
    file: str | None = Field(None, description="/files/<task_id>/<token>/<name> once completed: a signed link that works without the key until the task expires.")
    error: str | None = None
    completed_time: str | None = None
    progress: Progress | None = None
    attempts: int | None = None
    cached: bool | None = Field(None, description="Completed tasks: true when served from a shared result rather than downloaded for this task.")
    webhook: WebhookState | None = Field(None, description="Only for a task submitted with webhook_url: its delivery state.")


class WebhookState(BaseModel):
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(..., description="Delivery attempts made so far.")
    last_status_code: int | None = Field(None, description="HTTP status of the last attempt (null: none yet, or no answer).")

    @model_serializer(mode="wrap")
    def _null_code_shown(self, handler: Any) -> dict[str, Any]:
        # /status drops null fields; this one stays, so a client can always read it.
        out = handler(self)
        out["last_status_code"] = self.last_status_code
        return out


class WebhookSecret(BaseModel):
    secret: str = Field(..., description="whsec_<base64>: verify deliveries with standardwebhooks.Webhook(secret).verify(body, headers).")


class HealthResponse(BaseModel):
    status: str
    workers: int = Field(0, description="Worker processes alive (heartbeat records not yet expired).")
    versions: dict[str, str] | None = Field(
        None, description="What the newest live worker runs: yt_dlp, yt_dlp_ejs, deno, ffmpeg, pot_plugin (null: no worker alive)."
    )


# Per-key cookies (docs/sites.md). The 1 MiB body limit of PUT /cookies is enforced before parsing (413).
MAX_COOKIES_BYTES = 1024 * 1024


class CookiesBody(_Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    cookies: str = Field(
        ...,
        min_length=1,
        max_length=MAX_COOKIES_BYTES,
        description="A Netscape cookies file (cookies.txt: seven tab-separated fields per line), used for this key's jobs only.",
    )


class CookiesInfo(BaseModel):
    domains: list[str] = Field(..., description="The cookie domains stored for this key (never the values).")
    count: int = Field(..., description="How many cookies are stored.")
    updated_at: float = Field(..., description="When they were stored (Unix time).")
