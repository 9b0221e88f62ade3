"""A task's files: media as a redirect to a presigned S3 link, info.json as JSON (whole, filtered or as qualities).

Two ways in: `/files/<task_id>/<token>/<name>`, the signed link /status gives (no key: the bots hand it to end users),
and `/files/<task_id>/<name>` with the owning key. GET and HEAD both; a wrong or expired token is a 404 like a
missing file.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from functions.api.deps import CallerDep, LinksDep, MediaDep, SettingsDep, TasksDep
from functions.api.info import filter_info, json_safe
from functions.api.routes.errors import errors
from functions.api.routes.tasks import owned_task
from shared.config import Settings
from shared.errors import NotFound
from shared.models import TASK_ID_PATTERN
from shared.stores.media import MediaStore
from shared.stores.tasks import served_names

router = APIRouter(tags=["files"])
MAX_LINK_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer

TaskId = Annotated[str, Path(max_length=64)]
FileName = Annotated[str, Path(max_length=256)]
Raw = Annotated[bool, Query(description="Download as an attachment.")]
Qualities = Annotated[str | None, Query(description="info.json: the available audio and video qualities.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "info.json, whole or filtered by the query's keys.", "content": {"application/json": {"schema": {"type": "object"}}}},
    307: {
        "description": "Redirect to a presigned link to the file (media, or a whole info.json too big to answer "
        "inline); it expires no later than the task. No body.",
        "headers": {"Location": {"description": "The presigned S3 link.", "schema": {"type": "string", "format": "uri"}}},
    },
}


LINK_ROUTE = dict(
    path="/files/{task_id}/{token}/{name}",
    responses={**RESPONSES, **errors(400, 404)},
    response_model=None,
    summary="Download a task's file through the signed link /status gives (no key needed)",
)


# GET and HEAD are registered apart: one route with both methods gives both operations the same OpenAPI id.
@router.get(**LINK_ROUTE)
@router.head(**LINK_ROUTE)
def get_file_by_link(
    request: Request, task_id: TaskId, token: Annotated[str, Path(max_length=64)], name: FileName,
    tasks: TasksDep, media: MediaDep, links: LinksDep, settings: SettingsDep, raw: Raw = False, qualities: Qualities = None,
) -> Any:
    if not TASK_ID_PATTERN.match(task_id) or not links.valid(task_id, name, token):
        raise NotFound("File not found")
    task = tasks.get(task_id)
    if task is None:
        raise NotFound("File not found")
    return serve(request, task, name, media, settings, raw)


KEYED_ROUTE = dict(
    path="/files/{task_id}/{name}",
    responses={**RESPONSES, **errors(400, 401, 404)},
    response_model=None,
    summary="Download a task's file with the key that created it",
)


@router.get(**KEYED_ROUTE)
@router.head(**KEYED_ROUTE)
def get_file(
    request: Request, task_id: TaskId, name: FileName, caller: CallerDep, tasks: TasksDep, media: MediaDep,
    settings: SettingsDep, raw: Raw = False, qualities: Qualities = None,
) -> Any:
    return serve(request, owned_task(tasks, caller, task_id), name, media, settings, raw)


def serve(request: Request, task: dict[str, Any], name: str, media: MediaStore, settings: Settings, raw: bool) -> Response:
    """The task's own file: only the name the task produced, never a path built from the request."""
    task_id = task["task_id"]
    if name not in served_names(task):
        raise NotFound("File not found")
    expires_in = min(MAX_LINK_SECONDS, int(task["expires_at"] - time.time()))
    if expires_in < 1:
        raise NotFound("File not found")
    task_id = task.get("object_task") or task_id  # a cached task serves the shared object its result points at
    size = media.size(task_id, name)
    if size is None:  # completed, yet the object is gone (removed early, or a lifecycle rule ran first)
        raise NotFound("File not found: it is no longer in storage")
    if name == "info.json":
        keys = [k for k in request.query_params.keys() if k != "raw"]
        # A whole info.json can be tens of MB (Lambda answers at most 6 MB): hand those out like media.
        if keys or size <= settings.info_inline_max_bytes:
            return JSONResponse(json_safe(filter_info(media.read_json(task_id, name), keys)))
    return RedirectResponse(media.presign(task_id, name, expires_in, attachment=raw), status_code=307)
