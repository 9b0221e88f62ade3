"""The web page's serving: `/` and `/web/<name>` from functions/api/web, strict headers, no key, outside the API document."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.api.routes.web import WEB_DIR
from shared.config import Settings


def client() -> TestClient:
    # No request here reaches a store: the page needs no backing service.
    return TestClient(create_app(Settings(aws_region="us-east-1")))


def test_web_page_is_served_without_a_key_with_strict_headers() -> None:
    # GIVEN the app WHEN `/` is fetched without a key
    response = client().get("/")
    # THEN it is the page, with a CSP allowing only this origin's scripts and no inline ones
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.text == (WEB_DIR / "index.html").read_text()


def test_web_page_has_no_inline_script_style_or_handler_and_only_local_assets() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html) and " style=" not in html and "<style" not in html
    for url in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert url.startswith("/") and not url.startswith("//"), url
    for script in WEB_DIR.glob("*.js"):
        source = script.read_text()
        assert "eval(" not in source and "innerHTML" not in source, script.name  # text only: no markup from data
        assert not re.search(r"https?://[\w-]+", source), f"{script.name} names another origin"


def test_web_assets_are_served_by_exact_name_only() -> None:
    c = client()
    js = c.get("/web/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert c.get("/web/app.css").headers["content-type"].startswith("text/css")
    assert c.head("/web/app.js").status_code == 200
    # Anything else of the folder, or outside it, is a 404 like any unknown path
    for path in ("/web/README.md", "/web/nothing.js", "/web/..%2Fapp.py", "/web/", "/index.html"):
        response = c.get(path)
        assert response.status_code == 404 and response.json() == {"error": "Not Found"}, path


def test_web_page_leaves_the_api_document_and_docs_as_they_were() -> None:
    c = client()
    doc = c.get("/openapi.json").json()
    # (/webhook_secret is an API path; only the page's own /web/<name> assets stay out)
    assert "/" not in doc["paths"] and not any(p == "/web" or p.startswith("/web/") for p in doc["paths"])
    assert "/get_video" in doc["paths"] and c.get("/docs").status_code == 200
    # The page reads permission names from the document: they must be there
    perms = doc["components"]["schemas"]["PermissionsRequest"]["properties"]["permissions"]["items"]["enum"]
    assert "get_video" in perms and "create_key" in perms
