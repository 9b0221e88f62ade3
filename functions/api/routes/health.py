"""Liveness with a real dependency check, open without a key (load balancers and the local stack wait on it)."""

from __future__ import annotations

from fastapi import APIRouter

from functions.api.deps import KeysDep
from functions.api.routes.errors import errors
from functions.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, responses=errors(), summary="200 once the service can serve")
def health(keys: KeysDep) -> HealthResponse:
    keys.find("health-check")  # one read of the keys table: raises Unavailable (503) when DynamoDB is not there
    return HealthResponse(status="ok")
