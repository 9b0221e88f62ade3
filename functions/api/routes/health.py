"""Liveness with a real dependency check, open without a key (load balancers and the local stack wait on it)."""

from __future__ import annotations

from fastapi import APIRouter

from functions.api.deps import TasksDep, WorkersDep
from functions.api.routes.errors import errors
from functions.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, responses=errors(), summary="200 once the service can serve")
def health(tasks: TasksDep, workers: WorkersDep) -> HealthResponse:
    tasks.get("health-check")  # one read from DynamoDB: raises Unavailable (503) when it is not there
    live = workers.live()  # one small scan: a record per worker process, newest first
    return HealthResponse(status="ok", workers=len(live), versions=dict(live[0].versions) if live else None)
