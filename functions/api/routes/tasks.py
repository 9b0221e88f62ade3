"""Task endpoints: submit video, audio, live and info tasks; read a task's status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from functions.api.deps import CallerDep, LinksDep, TaskServiceDep, TasksDep, require
from functions.api.quota import ratelimit_headers
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
from shared.stores.playlists import sign_files
from shared.stores.tasks import public_view

router = APIRouter(tags=["tasks"])
SUBMIT_ERRORS = errors(400, 401, 403, 429)


def _submit(request: Request, response: Response, service: Any, caller: ApiKey, task_type: str, body: Any) -> TaskCreated:
    params = drop_unset(body.model_dump(exclude={"url", "webhook_url", "cache"}))
    accepted = service.accept(caller, task_type, body.url, params, share=body.cache, webhook_url=body.webhook_url)
    request.state.task_id = accepted.task_id  # for the access line
    response.headers.update(ratelimit_headers(accepted.quota))  # a 429 carries them too (app.py)
    return TaskCreated(task_id=accepted.task_id, status="completed" if accepted.cached else "waiting", cached=accepted.cached)


@router.post("/get_video", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download a video (or a clip of it)")
def get_video(request: Request, response: Response, body: VideoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_video"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_video", body)


@router.post("/get_audio", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download audio (or a clip of it)")
def get_audio(request: Request, response: Response, body: AudioRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_audio"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_audio", body)


@router.post("/get_live_video", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Record a live stream's video")
def get_live_video(request: Request, response: Response, body: LiveVideoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_live_video"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_live_video", body)


@router.post("/get_live_audio", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Record a live stream's audio")
def get_live_audio(request: Request, response: Response, body: LiveAudioRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_live_audio"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_live_audio", body)


@router.post("/get_info", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Fetch the media's yt-dlp info as info.json")
def get_info(request: Request, response: Response, body: InfoRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_info"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_info", body)


@router.post("/get_playlist", response_model=TaskCreated, responses=SUBMIT_ERRORS, summary="Download a playlist, channel or feed, entry by entry")
def get_playlist(request: Request, response: Response, body: PlaylistRequest, service: TaskServiceDep, caller: Annotated[ApiKey, Depends(require("get_playlist"))]) -> TaskCreated:
    return _submit(request, response, service, caller, "get_playlist", body)


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
