"""Usage: a key's rate-limit standing and its totals (tasks, outcomes, bytes), for itself or, with get_keys, any key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from functions.api.deps import CallerDep, KeysDep, TaskServiceDep, UsageDep, require
from functions.api.routes.errors import errors
from functions.api.schemas import UsageResponse, UsageTotals
from shared.errors import NotFound
from shared.stores.keys import ApiKey

router = APIRouter(tags=["usage"])
KeyName = Annotated[str, Path(description="The key's name.", max_length=256)]


def _usage(key: ApiKey, service: TaskServiceDep, usage: UsageDep) -> UsageResponse:
    quota = service.standing(key)
    return UsageResponse(
        name=key.name,
        window_seconds=quota.window,
        limit=quota.limit,
        used=quota.used,
        remaining=quota.remaining,
        reset=quota.reset,
        totals=UsageTotals(**usage.totals(key.key_hash)),
    )


@router.get("/usage", response_model=UsageResponse, responses=errors(401), summary="The calling key's rate-limit standing and totals")
def own_usage(caller: CallerDep, service: TaskServiceDep, usage: UsageDep) -> UsageResponse:
    return _usage(caller, service, usage)


@router.get("/usage/{name}", response_model=UsageResponse, responses=errors(400, 401, 403, 404), summary="A key's standing and totals, by name")
def key_usage(name: KeyName, keys: KeysDep, service: TaskServiceDep, usage: UsageDep, caller: Annotated[ApiKey, Depends(require("get_keys"))]) -> UsageResponse:
    key = keys.find(name)
    if key is None:
        raise NotFound(f"API key '{name}' not found")
    return _usage(key, service, usage)
