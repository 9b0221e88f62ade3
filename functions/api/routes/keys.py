"""Key management: create, delete, list and reveal keys; check the caller's permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from functions.api.deps import CallerDep, KeyServiceDep, KeysDep, require
from functions.api.routes.errors import errors
from functions.api.schemas import CreateKeyRequest, KeyCreated, KeyDeleted, KeyListing, KeyRevealed, Message, PermissionsRequest
from shared.errors import Forbidden
from shared.stores.keys import ApiKey

router = APIRouter(tags=["keys"])
KeyName = Annotated[str, Path(description="The key's name.", max_length=256)]


@router.post("/create_key", status_code=201, response_model=KeyCreated, responses=errors(400, 401, 403, 409), summary="Create a key")
def create_key(body: CreateKeyRequest, service: KeyServiceDep, caller: Annotated[ApiKey, Depends(require("create_key"))]) -> KeyCreated:
    key = service.create(caller, body.name, list(body.permissions), body.request_limit)
    return KeyCreated(message="API key created successfully", key=key, name=body.name)


@router.delete("/delete_key/{name}", response_model=KeyDeleted, responses=errors(400, 401, 403, 404, 409), summary="Delete a key by name")
def delete_key(name: KeyName, service: KeyServiceDep, caller: Annotated[ApiKey, Depends(require("delete_key"))]) -> KeyDeleted:
    service.delete(caller, name)
    return KeyDeleted(name=name, message="API key deleted successfully")


@router.get("/get_keys", response_model=dict[str, KeyListing], response_model_exclude_none=True, responses=errors(401, 403), summary="Every key, by name")
def get_keys(keys: KeysDep, caller: Annotated[ApiKey, Depends(require("get_keys"))]) -> dict[str, KeyListing]:
    return {
        k.record.name: KeyListing(
            key=k.key, name=k.record.name, permissions=list(k.record.permissions), created_at=k.record.created_at, request_limit=k.record.request_limit
        )
        for k in keys.reveal_all()
    }


@router.get("/get_key/{name}", response_model=KeyRevealed, response_model_exclude_none=True, responses=errors(400, 401, 403, 404), summary="One key by name")
def get_key(name: KeyName, keys: KeysDep, caller: Annotated[ApiKey, Depends(require("get_key"))]) -> KeyRevealed:
    found = keys.get(name)
    return KeyRevealed(message="API key get successfully", name=found.record.name, key=found.key, request_limit=found.record.request_limit)


@router.post("/check_permissions", response_model=Message, responses=errors(400, 401, 403), summary="Does the caller hold these permissions?")
def check_permissions(body: PermissionsRequest, caller: CallerDep) -> Message:
    missing = [p for p in body.permissions if not caller.has(p)]
    if missing:
        raise Forbidden("Insufficient permissions")
    return Message(message="Permissions granted")
