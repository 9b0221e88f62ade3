"""The calling key's webhook signing secret: read it (made on first use) or rotate it. The only place it is shown."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.api.deps import WebhookSecretsDep
from functions.api.routes.cookies import TaskKey
from functions.api.routes.errors import errors
from functions.api.schemas import WebhookSecret

router = APIRouter(tags=["webhooks"])
# The secret is a credential: no cache between the API and the caller may keep it.
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/webhook_secret", response_model=WebhookSecret, responses=errors(401, 403), summary="This key's webhook signing secret")
def get_webhook_secret(store: WebhookSecretsDep, caller: TaskKey) -> JSONResponse:
    return JSONResponse({"secret": store.get_or_create(caller.key_hash).reveal()}, headers=_NO_STORE)


@router.post(
    "/webhook_secret", response_model=WebhookSecret, responses=errors(401, 403),
    summary="Rotate this key's webhook secret (the old one keeps signing for 24 h)",
)
def rotate_webhook_secret(store: WebhookSecretsDep, caller: TaskKey) -> JSONResponse:
    return JSONResponse({"secret": store.rotate(caller.key_hash).reveal()}, headers=_NO_STORE)
