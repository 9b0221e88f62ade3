"""The Lambda wiring: an API Gateway v2 event through Mangum reaches the app, and the package stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def http_api_event(method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.example.com", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_mangum_handler_serves_an_http_api_event(aws, monkeypatch):
    # GIVEN the deployed tables and an admin key WHEN API Gateway invokes the Lambda handler THEN the app answers
    for name, value in aws.outputs.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADMIN_API_KEY", "")
    from shared.bootstrap import ensure_admin_key
    from shared.config import get_settings
    from functions.api.deps import Container

    get_settings.cache_clear()
    admin = ensure_admin_key(Container(get_settings(), clients=aws.clients).keys, None)
    import importlib

    import functions.api.handler as handler

    handler = importlib.reload(handler)
    response = handler.lambda_handler(http_api_event("GET", "/get_keys", {"x-api-key": admin}), None)
    assert response["statusCode"] == 200 and set(json.loads(response["body"])) == {"admin"}
    response = handler.lambda_handler(http_api_event("POST", "/get_info", {"x-api-key": "wrong", "content-type": "application/json"}, "{}"), None)
    assert response["statusCode"] == 401 and json.loads(response["body"]) == {"error": "Invalid API key"}
    get_settings.cache_clear()


def test_api_handler_never_imports_yt_dlp_or_the_emulator():
    code = "import sys, functions.api.handler; print(','.join(m for m in ('yt_dlp', 'moto', 'functions.worker') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
