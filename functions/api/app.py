"""The FastAPI application: routers, error handlers and the body-size limit."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from functions.api.access_log import AccessLog
from functions.api.deps import Container
from functions.api.limits import BodySizeLimit
from functions.api.quota import ratelimit_headers
from functions.api.schemas import MAX_COOKIES_BYTES, ErrorResponse
from functions.api.routes import cookies, files, health, keys, tasks, usage, webhooks
from shared.config import Settings, get_settings
from shared.errors import RateLimited, ServiceError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024



def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """Build the app; clients are built lazily on the first request that needs them."""
    app = FastAPI(
        title="yt-dlp host API",
        version="1.0.0",
        description="Download video, audio, live recordings and metadata through per-key, rate-limited tasks. "
        "Every endpoint but /health needs the X-API-Key header. Errors are always {\"error\": \"...\"}.",
        # A path with a trailing slash is a 404 like any unknown path (as in the original), not a redirect whose
        # Location is built from the client's Host header.
        redirect_slashes=False,
    )
    app.state.container = container or Container(settings or get_settings())
    for module in (tasks, keys, cookies, files, health, usage, webhooks):
        app.include_router(module.router)
    # A cookies file may be large (a body of up to 1 MiB); every other body stays small.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, path_limits={"/cookies": MAX_COOKIES_BYTES})
    app.add_middleware(AccessLog)  # outermost: it sees the 413s too
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document minus its 422 answers: validation errors are sent as 400 {"error": ...} (see below)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        components["ErrorResponse"] = ErrorResponse.model_json_schema()
        app.openapi_schema = schema
    return app.openapi_schema


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after), **(ratelimit_headers(exc.quota) if exc.quota is not None else {})}
        if exc.status_code >= 500:
            log.warning("dependency failure: %s", exc.message, exc_info=exc.__cause__)
        return JSONResponse({"error": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": describe_validation(exc.errors())}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": "Internal server error"}, status_code=500)


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """One readable sentence per problem, e.g. "url: Field required"; never echoes the input back."""
    parts = []
    for err in errors[:5]:
        if err.get("type") == "json_invalid":
            return "Request body is not valid JSON"
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "model_attributes_type" or (not loc and "dict" in message.lower()):
            return "Request body must be a JSON object"
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(parts) or "Invalid request"
