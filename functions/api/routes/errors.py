"""Documented error responses, shared by the routes' OpenAPI descriptions."""

from __future__ import annotations

from typing import Any

# Referenced, not given as a `model`: FastAPI would build a validator for every (route, code) pair at import, which
# only the OpenAPI document uses; the app adds the ErrorResponse schema when it builds the document.
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorResponse"}

_TEXT = {
    400: "Bad request: the body or a parameter is invalid.",
    401: "Missing or invalid API key.",
    403: "The key lacks the permission.",
    404: "Not found.",
    409: "Conflict.",
    413: "Request body too large.",
    429: "Rate limit exceeded; see Retry-After.",
    503: "A backing service is unavailable.",
}


# Every operation can answer these: the body-size limit runs before routing (a GET with a body is measured too),
# and any backing service can fail.
ALWAYS = (413, 503)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes (always 413 and 503 too)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *ALWAYS}):
        entry: dict[str, Any] = {"description": _TEXT[code], "content": {"application/json": {"schema": ERROR_SCHEMA_REF}}}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "Seconds until a request can succeed.", "schema": {"type": "integer"}}}
        out[code] = entry
    return out
