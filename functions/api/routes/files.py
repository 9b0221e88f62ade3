"""A task's files: media as a redirect to a presigned S3 link, info.json as JSON (whole, filtered or as qualities)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from functions.api.deps import CallerDep, MediaDep, TasksDep
from functions.api.routes.errors import errors
from functions.api.routes.tasks import owned_task
from shared.errors import NotFound
from shared.models import TaskStatus

router = APIRouter(tags=["files"])
MAX_LINK_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


@router.get(
    "/files/{task_id}/{name}",
    responses={
        200: {"description": "info.json, whole or filtered by the query's keys.", "content": {"application/json": {"schema": {"type": "object"}}}},
        307: {
            "description": "Redirect to a presigned link to the file; it expires no later than the task. No body.",
            "headers": {"Location": {"description": "The presigned S3 link.", "schema": {"type": "string", "format": "uri"}}},
        },
        **errors(400, 401, 404),
    },
    response_model=None,
    summary="Download a task's file",
)
def get_file(
    request: Request,
    task_id: Annotated[str, Path(max_length=64)],
    name: Annotated[str, Path(max_length=256)],
    caller: CallerDep,
    tasks: TasksDep,
    media: MediaDep,
    raw: Annotated[bool, Query(description="Download as an attachment.")] = False,
    qualities: Annotated[str | None, Query(description="info.json: the available audio and video qualities.")] = None,
) -> Any:
    task = owned_task(tasks, caller, task_id)
    # Only the file the task itself produced can be named: no path is ever built from the request.
    if task["status"] != TaskStatus.COMPLETED.value or name != task.get("file_name"):
        raise NotFound("File not found")
    if name == "info.json":
        keys = [k for k in request.query_params.keys() if k != "raw"]
        return JSONResponse(filter_info(media.read_json(task_id, name), keys))
    expires_in = min(MAX_LINK_SECONDS, int(task["expires_at"] - time.time()))
    if expires_in < 1:
        raise NotFound("File not found")
    return RedirectResponse(media.presign(task_id, name, expires_in, attachment=raw), status_code=307)


def filter_info(info: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The original's info.json filters: no keys → everything; keys → those keys; `qualities` → the format table."""
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


def qualities_of(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Audio-only formats by abr and video formats by (height, fps), as the original lists them."""
    audio: dict[str, Any] = {}
    video: dict[str, Any] = {}
    for f in info.get("formats") or []:
        if f.get("format_note") in ("storyboard",) or not f.get("format_id"):
            continue
        vcodec, acodec = f.get("vcodec"), f.get("acodec")
        if vcodec == "none" and acodec != "none":
            audio[f["format_id"]] = {
                "abr": f.get("abr") or f.get("tbr"),
                "acodec": acodec,
                "audio_channels": f.get("audio_channels"),
                "filesize": f.get("filesize") or f.get("filesize_approx"),
            }
        elif vcodec != "none" and f.get("height"):
            video[f["format_id"]] = {
                "height": f.get("height"),
                "width": f.get("width"),
                "fps": f.get("fps"),
                "vcodec": vcodec,
                "format_note": f.get("format_note"),
                "dynamic_range": f.get("dynamic_range"),
                "filesize": f.get("filesize") or f.get("filesize_approx"),
            }
    return {
        "audio": dict(sorted(audio.items(), key=lambda kv: kv[1]["abr"] or 0)),
        "video": dict(sorted(video.items(), key=lambda kv: (kv[1]["height"] or 0, kv[1]["fps"] or 0))),
    }
