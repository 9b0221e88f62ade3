"""Task endpoints: submit video, audio, live and info tasks; read a task's status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from functions.api.deps import CallerDep, LinksDep, TaskServiceDep, TasksDep, require
from functions.api.routes.errors import errors
from functions.api.schemas import (
    AudioRequest,
    InfoRequest,
    LiveAudioRequest,
    LiveVideoRequest,
    PlaylistRequest,
    TaskCreated,
    TaskStatusResponse,
    VideoRequest,
)
from functions.api.extras import drop_unset
from shared import logs
from shared.errors import NotFound
from shared.models import TASK_ID_PATTERN
from shared.stores.keys import ApiKey
from shared.stores.tasks import public_view

router = APIRouter(tags=["tasks"])
SUBMIT_ERRORS = errors(400, 401, 403, 429)


def _submit(request: Request, service: Any, caller: ApiKey, task_type: str, body: Any) -> TaskCreated:
    params = drop_unset(body.model_dump(exclude={"url"}))
    task_id = service.submit(caller, task_type, body.url, params)
    request.state.task_id = task_id  # for the access line
    return TaskCreated(task_id=task_id)


@router.post("/get_video", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download a video (or a clip of it)")
def get_video(request: Request, body: VideoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_video"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_video", body)


@router.post("/get_audio", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download audio (or a clip of it)")
def get_audio(request: Request, body: AudioRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_audio"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_audio", body)


@router.post("/get_live_video", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Record a live stream's video")
def get_live_video(request: Request, body: LiveVideoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_live_video"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_live_video", body)


@router.post("/get_live_audio", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Record a live stream's audio")
def get_live_audio(request: Request, body: LiveAudioRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_live_audio"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_live_audio", body)


@router.post("/get_info", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Fetch the media's yt-dlp info as info.json")
def get_info(request: Request, body: InfoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_info"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_info", body)


@router.post("/get_playlist", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download a playlist, channel or feed, entry by entry")
def get_playlist(request: Request, body: PlaylistRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_playlist"))]) -> TaskCreated:
    return _submit(request, service, caller, "get_playlist", body)


TaskId = Annotated[str, Path(description="The 16-character id get_* returned.", max_length=64)]


@router.get(
    "/status/{task_id}",
    response_model=TaskStatusResponse,
    response_model_exclude_none=True,
    responses=errors(400, 401, 404),
    summary="A task's status; only the key that created it can read it",
)
def status(task_id: TaskId, caller: CallerDep, tasks: TasksDep, links: LinksDep) -> dict[str, Any]:
    task = owned_task(tasks, caller, task_id)
    view = public_view(task)
    if "file" in view:  # a link that works without the key until the task expires
        view["file"] = links.path(task_id, task["file_name"], int(task["expires_at"]))
    sign_files(view, task, links)
    return view


def owned_task(tasks: Any, caller: ApiKey, task_id: str) -> dict[str, Any]:
    """The caller's task; NotFound for a missing, expired or someone else's task (no difference is shown)."""
    logs.bind(task_id=task_id[:64])
    task = tasks.get(task_id) if TASK_ID_PATTERN.match(task_id) else None
    if task is None or task["owner"] != caller.key_hash:
        raise NotFound("Task not found")
    return task


def sign_files(view: dict[str, Any], task: dict[str, Any], links: Any) -> None:
    """`files` and each playlist entry's `file` as signed links, like `file`."""
    expires = int(task.get("expires_at") or 0)
    if "files" in view:
        view["files"] = [links.path(task["task_id"], name, expires) for name in view["files"]]
    for entry in view.get("entries") or []:
        if entry.get("file"):  # downloadable as soon as the entry is done
            entry["file"] = links.path(task["task_id"], entry["file"], expires)
