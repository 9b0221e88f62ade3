"""The web page (functions/api/web/): `GET /` and its assets under `/web/`, with strict security headers.

Served by the API itself, so the Lambda serves it in AWS as uvicorn does locally; no route of it is in the OpenAPI
document. Only the files of that folder are served, looked up by exact name, never a path built from the request.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path as FilePath

from fastapi import APIRouter, Path
from fastapi.responses import Response

from shared.errors import NotFound

router = APIRouter(include_in_schema=False)
WEB_DIR = FilePath(__file__).resolve().parent.parent / "web"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from this origin; images may also come from https: (the media's own thumbnail, fetched without a
# referrer); no inline script or style, no plugin, no framing, no form posting anywhere else.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Revalidated on each load: a deployment's new page is seen at once (the files are small).
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=1)
def assets() -> dict[str, tuple[bytes, str]]:
    """name → (content, media type) of the page's files, read once on first use (never at import)."""
    return {p.name: (p.read_bytes(), _TYPES[p.suffix]) for p in sorted(WEB_DIR.iterdir()) if p.suffix in _TYPES and p.is_file()}


def page_response(name: str) -> Response:
    """One of the page's files with the security headers; NotFound for any other name."""
    found = assets().get(name)
    if found is None:
        raise NotFound("Not Found")
    content, media_type = found
    return Response(content, media_type=media_type, headers=SECURITY_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> Response:
    return page_response("index.html")


@router.api_route("/web/{name}", methods=["GET", "HEAD"])
def asset(name: str = Path(max_length=64)) -> Response:
    return page_response(name)
