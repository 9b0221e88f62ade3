"""A key's own cookies for its jobs (apps that bring their own account): store, describe, delete. Never echoed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from functions.api.deps import CallerDep, CookiesDep
from functions.api.routes.errors import errors
from functions.api.schemas import CookiesBody, CookiesInfo
from shared import cookies
from shared.errors import BadRequest, Forbidden, NotFound
from shared.models import TASK_TYPES
from shared.stores.keys import ApiKey

router = APIRouter(tags=["cookies"])


def task_key(caller: CallerDep) -> ApiKey:
    """Any key that may create a task may keep cookies for its tasks (403 otherwise)."""
    if not any(caller.has(p) for p in TASK_TYPES):
        raise Forbidden("Permission denied")
    return caller


TaskKey = Annotated[ApiKey, Depends(task_key)]


@router.put("/cookies", status_code=204, response_class=Response, responses=errors(400, 401, 403), summary="Store this key's cookies")
def put_cookies(body: CookiesBody, store: CookiesDep, caller: TaskKey) -> Response:
    try:
        parsed = cookies.parse(body.cookies)
    except cookies.CookiesError as err:
        raise BadRequest(f"cookies: {err}") from None
    store.put(caller.key_hash, body.cookies, sorted({c.domain for c in parsed}), len(parsed))
    return Response(status_code=204)


@router.get("/cookies", response_model=CookiesInfo, responses=errors(401, 403, 404), summary="Which cookies this key has (no values)")
def get_cookies(store: CookiesDep, caller: TaskKey) -> CookiesInfo:
    info = store.info(caller.key_hash)
    if info is None:
        raise NotFound("No cookies are stored for this key")
    return CookiesInfo(domains=info.domains, count=info.count, updated_at=info.updated_at)


@router.delete("/cookies", status_code=204, response_class=Response, responses=errors(401, 403), summary="Delete this key's cookies")
def delete_cookies(store: CookiesDep, caller: TaskKey) -> Response:
    store.delete(caller.key_hash)
    return Response(status_code=204)
