"""Malformed requests: a corpus of hostile bodies, paths and headers, each answered 4xx {"error": ...}, changing nothing.

Requests go to the ASGI app exactly as written (tests.support.asgi): an HTTP client would normalise the dot
segments, percent-encodings and lengths these cases are about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from shared.models import media_key
from tests.support.api import Api, build_api
from tests.support.asgi import RawResponse, asgi_request
from tests.support.stack import DeployedStack
from tests.support.state import snapshot, wipe

URL = "https://media.example.com/watch?v=1"
KEY = "{key}"  # placeholder in the corpus for the caller's valid key
OWN = "{own}"  # the caller's completed task
OTHER = "{other}"  # another key's completed task
LIMIT = 64 * 1024


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def with_url(**fields: Any) -> bytes:
    return body({"url": URL, **fields})


def raw(text: str) -> bytes:
    """JSON written by hand: NaN and Infinity literals, huge integers, broken syntax."""
    return text.encode("utf-8", "surrogatepass")


JSON = [("content-type", "application/json")]

# (method, target, body, extra headers); every one is sent with a valid key holding every permission.
BODIES: dict[str, tuple[str, str, bytes | list[bytes], list[tuple[str, str]]]] = {
    # not JSON
    "broken-json": ("POST", "/get_video", b"{not json", JSON),
    "truncated-json": ("POST", "/get_video", b'{"url": "https://m.example.com/', JSON),
    "empty-body": ("POST", "/get_info", b"", JSON),
    "invalid-utf8": ("POST", "/get_info", b'{"url": "https://m.example.com/\xff\xfe"}', JSON),
    "lone-surrogate": ("POST", "/get_info", raw('{"url": "https://m.example.com/\\ud800"}'), JSON),
    "form-encoded": ("POST", "/get_info", b"url=https%3A%2F%2Fm.example.com%2Fx", [("content-type", "application/x-www-form-urlencoded")]),
    "multipart": ("POST", "/get_info", b'--b\r\nContent-Disposition: form-data; name="url"\r\n\r\nhttps://m.example.com/x\r\n--b--\r\n', [("content-type", "multipart/form-data; boundary=b")]),
    "text-plain": ("POST", "/get_info", with_url(), [("content-type", "text/plain")]),
    "deeply-nested": ("POST", "/get_info", b'{"url": ' + b"[" * 20000 + b"]" * 20000 + b"}", JSON),
    # JSON that is not an object
    "array": ("POST", "/get_video", b'["https://m.example.com/x"]', JSON),
    "string": ("POST", "/get_video", b'"https://m.example.com/x"', JSON),
    "null": ("POST", "/get_video", b"null", JSON),
    "number": ("POST", "/create_key", b"5", JSON),
    "true": ("POST", "/check_permissions", b"true", JSON),
    # wrong types
    "url-number": ("POST", "/get_video", body({"url": 5}), JSON),
    "url-list": ("POST", "/get_video", body({"url": [URL]}), JSON),
    "url-object": ("POST", "/get_audio", body({"url": {"href": URL}}), JSON),
    "url-null": ("POST", "/get_info", body({"url": None}), JSON),
    "url-bool": ("POST", "/get_info", body({"url": True}), JSON),
    "start-bool": ("POST", "/get_video", with_url(start_time=True), JSON),
    "start-list": ("POST", "/get_video", with_url(start_time=[1]), JSON),
    "format-number": ("POST", "/get_video", with_url(video_format=137), JSON),
    "output-format-unknown": ("POST", "/get_audio", with_url(output_format="exe"), JSON),
    "keyframes-object": ("POST", "/get_video", with_url(force_keyframes={"a": 1}), JSON),
    "cache-string": ("POST", "/get_video", with_url(cache="sometimes"), JSON),
    "cache-object": ("POST", "/get_info", with_url(cache={"off": True}), JSON),
    "duration-string": ("POST", "/get_live_video", with_url(duration="ten"), JSON),
    "permissions-string": ("POST", "/create_key", body({"name": "x", "permissions": "get_info"}), JSON),
    "permissions-numbers": ("POST", "/create_key", body({"name": "x", "permissions": [1, 2]}), JSON),
    "permissions-object": ("POST", "/create_key", body({"name": "x", "permissions": {"get_info": True}}), JSON),
    "permissions-unknown": ("POST", "/create_key", body({"name": "x", "permissions": ["root"]}), JSON),
    "permissions-too-many": ("POST", "/create_key", body({"name": "x", "permissions": ["get_info"] * 5000}), JSON),
    "name-number": ("POST", "/create_key", body({"name": 7, "permissions": []}), JSON),
    "request-limit-zero": ("POST", "/create_key", body({"name": "x", "permissions": [], "request_limit": 0}), JSON),
    "request-limit-string": ("POST", "/create_key", body({"name": "x", "permissions": [], "request_limit": "5"}), JSON),
    "request-limit-huge": ("POST", "/create_key", body({"name": "x", "permissions": [], "request_limit": 10**30}), JSON),
    "request-limit-bool": ("POST", "/create_key", body({"name": "x", "permissions": [], "request_limit": True}), JSON),
    "check-permissions-null": ("POST", "/check_permissions", body({"permissions": None}), JSON),
    # webhook_url: the same rules as url, refused before any task or secret exists
    "webhook-url-number": ("POST", "/get_video", with_url(webhook_url=5), JSON),
    "webhook-url-list": ("POST", "/get_audio", with_url(webhook_url=["https://hooks.example.com/in"]), JSON),
    "webhook-url-object": ("POST", "/get_info", with_url(webhook_url={"href": "https://hooks.example.com/in"}), JSON),
    "webhook-url-empty": ("POST", "/get_info", with_url(webhook_url=""), JSON),
    "webhook-url-ftp": ("POST", "/get_info", with_url(webhook_url="ftp://hooks.example.com/in"), JSON),
    "webhook-url-javascript": ("POST", "/get_live_video", with_url(duration=5, webhook_url="javascript:alert(1)"), JSON),
    "webhook-url-private": ("POST", "/get_live_audio", with_url(duration=5, webhook_url="http://10.0.0.1/in"), JSON),
    "webhook-url-loopback": ("POST", "/get_video", with_url(webhook_url="http://127.0.0.1:8080/in"), JSON),
    "webhook-url-metadata": ("POST", "/get_video", with_url(webhook_url="http://169.254.169.254/latest/meta-data/"), JSON),
    "webhook-url-backslash": ("POST", "/get_video", with_url(webhook_url="http://hooks.example.com\\@10.0.0.1/in"), JSON),
    "webhook-url-newline": ("POST", "/get_video", with_url(webhook_url="http://hooks.example.com/in\nX-Injected: 1"), JSON),
    "webhook-url-2049": ("POST", "/get_info", with_url(webhook_url="https://hooks.example.com/" + "a" * 2030), JSON),
    # huge numbers
    "start-1e308": ("POST", "/get_video", with_url(start_time=1e308), JSON),
    "start-10e30": ("POST", "/get_video", with_url(start_time=10**30), JSON),
    "end-10e400": ("POST", "/get_audio", raw(f'{{"url": "{URL}", "end_time": {10**400}}}'), JSON),
    "end-string-1e400": ("POST", "/get_audio", with_url(end_time="1e400"), JSON),
    "duration-1e308": ("POST", "/get_live_video", with_url(duration=1e308), JSON),
    "duration-10e30": ("POST", "/get_live_audio", with_url(duration=10**30), JSON),
    "duration-1e400": ("POST", "/get_live_audio", raw(f'{{"url": "{URL}", "duration": 1e400}}'), JSON),
    "start-live-10e400": ("POST", "/get_live_video", raw(f'{{"url": "{URL}", "duration": 5, "start": {10**400}}}'), JSON),
    # negative, NaN and infinite times
    "start-negative": ("POST", "/get_video", with_url(start_time=-1), JSON),
    "start-negative-string": ("POST", "/get_video", with_url(start_time="-00:01"), JSON),
    "end-before-start": ("POST", "/get_video", with_url(start_time=30, end_time=10), JSON),
    "start-nan-literal": ("POST", "/get_video", raw(f'{{"url": "{URL}", "start_time": NaN}}'), JSON),
    "end-infinity-literal": ("POST", "/get_audio", raw(f'{{"url": "{URL}", "end_time": Infinity}}'), JSON),
    "start-minus-infinity-literal": ("POST", "/get_audio", raw(f'{{"url": "{URL}", "start_time": -Infinity}}'), JSON),
    "start-nan-string": ("POST", "/get_video", with_url(start_time="NaN"), JSON),
    "end-inf-string": ("POST", "/get_video", with_url(end_time="inf"), JSON),
    "duration-nan-literal": ("POST", "/get_live_video", raw(f'{{"url": "{URL}", "duration": NaN}}'), JSON),
    "duration-infinity-literal": ("POST", "/get_live_audio", raw(f'{{"url": "{URL}", "duration": Infinity}}'), JSON),
    "duration-negative": ("POST", "/get_live_audio", with_url(duration=-5), JSON),
    "live-start-negative": ("POST", "/get_live_video", with_url(duration=5, start=-1), JSON),
    "clock-out-of-range": ("POST", "/get_video", with_url(start_time="00:61:00"), JSON),
    # unknown fields are ignored (tests/unit/test_api_unknown_fields.py), but not a wrong type beside them
    "unknown-field-beside-a-bad-one": ("POST", "/get_video", with_url(output_fromat="mp4", start_time="abc"), JSON),
    # over-long URLs and names
    "url-2049": ("POST", "/get_info", body({"url": "https://m.example.com/" + "a" * 2030}), JSON),
    "url-60k": ("POST", "/get_info", body({"url": "https://m.example.com/" + "a" * 60000}), JSON),
    "format-long": ("POST", "/get_video", with_url(video_format="b" * 300), JSON),
    "name-65": ("POST", "/create_key", body({"name": "n" * 65, "permissions": []}), JSON),
    "name-10k": ("POST", "/create_key", body({"name": "n" * 10000, "permissions": []}), JSON),
    # bodies over the size limit
    "body-over-limit": ("POST", "/get_info", body({"url": "https://m.example.com/" + "a" * LIMIT}), JSON),
    "chunked-over-limit": ("POST", "/get_info", [b'{"url": "https://m.example.com/'] + [b"a" * 16384] * 5 + [b'"}'], JSON),
    "chunked-small-pieces-over-limit": ("POST", "/create_key", [b'{"name": "x", "permissions": ['] + [b'"get_info",' * 100] * 70 + [b'"get_info"]}'], JSON),
    "get-with-large-body": ("GET", "/get_keys", b"x" * (LIMIT + 1), [("content-length", str(LIMIT + 1))]),
    "content-length-lies-high": ("POST", "/get_info", with_url(), [*JSON, ("content-length", str(10**12))]),
    "content-length-not-a-number": ("POST", "/get_info", with_url(), [*JSON, ("content-length", "abc")]),
    "content-length-negative": ("POST", "/get_info", with_url(), [*JSON, ("content-length", "-1")]),
    # odd unicode in key names
    "name-rtl-override": ("POST", "/create_key", body({"name": "\u202enimda", "permissions": []}), JSON),
    "name-zero-width": ("POST", "/create_key", body({"name": "ad\u200bmin", "permissions": []}), JSON),
    "name-bom": ("POST", "/create_key", body({"name": "\ufeffadmin", "permissions": []}), JSON),
    "name-nul": ("POST", "/create_key", body({"name": "admin\u0000", "permissions": []}), JSON),
    "name-emoji": ("POST", "/create_key", body({"name": "key\U0001f511", "permissions": []}), JSON),
    "name-combining": ("POST", "/create_key", body({"name": "e\u0301", "permissions": []}), JSON),
    "name-fullwidth": ("POST", "/create_key", body({"name": "\uff41\uff44\uff4d\uff49\uff4e", "permissions": []}), JSON),
    "name-cyrillic-homoglyph": ("POST", "/create_key", body({"name": "\u0430dmin", "permissions": []}), JSON),
    "name-newline": ("POST", "/create_key", body({"name": "admin\nx", "permissions": []}), JSON),
    "name-slash": ("POST", "/create_key", body({"name": "a/../admin", "permissions": []}), JSON),
    "name-hash-prefix": ("POST", "/create_key", body({"name": "hash#abc", "permissions": []}), JSON),
    "name-leading-dot": ("POST", "/create_key", body({"name": ".hidden", "permissions": []}), JSON),
    "name-empty": ("POST", "/create_key", body({"name": "", "permissions": []}), JSON),
    "name-lone-surrogate": ("POST", "/create_key", raw('{"name": "a\\udfff", "permissions": []}'), JSON),
}

# Refused for their size, whether it is declared or only counted as the chunks arrive.
TOO_LARGE = {"body-over-limit", "chunked-over-limit", "chunked-small-pieces-over-limit", "get-with-large-body", "content-length-lies-high"}

# (method, target); no body. OWN/OTHER are replaced with task ids.
PATHS: dict[str, tuple[str, str]] = {
    "files-dot-dot": ("GET", f"/files/{OWN}/.."),
    "files-encoded-dot-dot": ("GET", f"/files/{OWN}/%2e%2e"),
    "files-encoded-traversal": ("GET", f"/files/{OWN}/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
    "files-encoded-slash": ("GET", f"/files/{OWN}/..%2F..%2Fetc%2Fpasswd"),
    "files-encoded-slash-to-other": ("GET", f"/files/{OWN}/..%2F{OTHER}%2Fvideo.mp4"),
    "files-double-encoded-slash": ("GET", f"/files/{OWN}/..%252F{OTHER}%252Fvideo.mp4"),
    "files-double-encoded-dots": ("GET", f"/files/{OWN}/%252e%252e%252fvideo.mp4"),
    "files-absolute": ("GET", f"/files/{OWN}//etc/passwd"),
    "files-encoded-absolute": ("GET", f"/files/{OWN}/%2Fetc%2Fpasswd"),
    "files-no-task": ("GET", "/files//etc/passwd"),
    "files-backslashes": ("GET", f"/files/{OWN}/..\\..\\etc\\passwd"),
    "files-encoded-backslashes": ("GET", f"/files/{OWN}/..%5C{OTHER}%5Cvideo.mp4"),
    "files-nul": ("GET", f"/files/{OWN}/video.mp4%00.json"),
    "files-trailing-slash": ("GET", f"/files/{OWN}/video.mp4/"),
    "files-trailing-space": ("GET", f"/files/{OWN}/video.mp4%20"),
    "files-other-case": ("GET", f"/files/{OWN}/VIDEO.MP4"),
    "files-other-tasks-file": ("GET", f"/files/{OTHER}/video.mp4"),
    "files-own-id-other-name": ("GET", f"/files/{OWN}/info.json"),
    "files-task-id-dot-dot": ("GET", f"/files/..%2F{OTHER}/video.mp4"),
    "files-bad-raw-flag": ("GET", f"/files/{OWN}/video.mp4?raw=maybe"),
    "files-long-name": ("GET", f"/files/{OWN}/" + "n" * 300),
    "status-other-task": ("GET", f"/status/{OTHER}"),
    "status-lowercased-id": ("GET", f"/status/{OWN}"),  # lowercased below
    "status-dot-dot": ("GET", "/status/.."),
    "status-encoded-traversal": ("GET", f"/status/..%2F{OTHER}"),
    "status-nul": ("GET", f"/status/{OWN}%00"),
    "status-injection": ("GET", "/status/x'%20OR%20'1'='1"),
    "status-long-id": ("GET", "/status/" + "A" * 100000),
    "status-trailing-slash": ("GET", f"/status/{OWN}/"),
    "status-invalid-utf8": ("GET", "/status/%ff%fe%fd"),
    "get-key-rtl": ("GET", "/get_key/%E2%80%AEadmin"),
    "get-key-zero-width": ("GET", "/get_key/ad%E2%80%8Bmin"),
    "get-key-nul": ("GET", "/get_key/admin%00"),
    "get-key-traversal": ("GET", "/get_key/..%2Fadmin"),
    "get-key-hash-item": ("GET", "/get_key/..%2F..%2Fhash%23x"),
    "get-key-long": ("GET", "/get_key/" + "k" * 5000),
    "delete-key-rtl": ("DELETE", "/delete_key/%E2%80%AEadmin"),
    "delete-key-emoji": ("DELETE", "/delete_key/%F0%9F%94%91"),
    "delete-key-combining": ("DELETE", "/delete_key/e%CC%81"),
    "delete-key-long": ("DELETE", "/delete_key/" + "k" * 5000),
    "usage-traversal": ("GET", "/usage/..%2Fadmin"),
    "usage-hash-item": ("GET", "/usage/..%2F..%2Fhash%23x"),
    "usage-long": ("GET", "/usage/" + "k" * 5000),
    "usage-nul": ("GET", "/usage/admin%00"),
    "wrong-method-submit": ("GET", "/get_video"),
    "wrong-method-status": ("DELETE", f"/status/{OWN}"),
    "wrong-method-delete": ("POST", "/delete_key/admin"),
    "unknown-path": ("GET", "/admin"),
    "unknown-path-traversal": ("GET", "/..%2F..%2Fetc%2Fpasswd"),
}

# Header values in place of the valid key; none of them may authenticate, and no answer may repeat them.
KEYS: dict[str, bytes] = {
    "empty": b"",
    "over-256": b"k" * 257,
    "100k": b"k" * 100_000,
    "key-with-space": b"{key} ",
    "key-with-nul": b"{key}\x00",
    "key-prefix": b"{key_prefix}",
    "key-uppercased": b"{key_upper}",
    "latin1-bytes": b"\xff\xfe\xfd",
    "rtl-override": "\u202e{key}".encode("utf-8"),
    "zero-width": "{key}\u200b".encode("utf-8"),
    "emoji": "\U0001f511".encode("utf-8"),
    "hash-of-key": b"{key_hash}",
    "sql": b"' OR '1'='1",
}


@dataclass
class Target:
    api: Api
    key: str
    own: str
    other: str

    def fill(self, text: str) -> str:
        return text.replace(OWN, self.own).replace(OTHER, self.other).replace(KEY, self.key)


@pytest.fixture(scope="module")
def target(deployment: DeployedStack) -> Target:
    """A caller with every permission and a completed task, and another key's completed task.

    Shared by the module: every test proves its request changed nothing, so the next one starts from the same state.
    """
    wipe(deployment)
    api = build_api(deployment)
    other_key = api.make_key("other", ["get_video"])
    own = completed_task(api, deployment, api.admin_key)
    other = completed_task(api, deployment, other_key)
    return Target(api, api.admin_key, own, other)


def completed_task(api: Api, aws: Any, key: str) -> str:
    task_id = api.client.post("/get_video", json={"url": URL}, headers=api.headers(key)).json()["task_id"]
    aws.clients.s3.put_object(Bucket=aws.settings.media_bucket, Key=media_key(task_id, "video.mp4"), Body=b"data")
    assert api.container.tasks.complete(task_id, "video.mp4", ttl_seconds=600)
    return task_id


def assert_refused(response: RawResponse, case: str, *secrets: str) -> None:
    assert response.raised is None, f"{case}: the app raised {response.raised!r}"
    assert 400 <= response.status < 500, f"{case}: {response.status} {response.body[:300]!r}"
    assert response.headers.get("content-type", "").startswith("application/json"), f"{case}: {response.headers}"
    payload = response.json()
    assert set(payload) == {"error"} and isinstance(payload["error"], str) and payload["error"], f"{case}: {payload}"
    for secret in secrets:
        assert secret not in response.body.decode("utf-8", "replace"), f"{case}: the answer repeats the key"


@pytest.mark.parametrize("case", list(BODIES))
def test_malformed_body_is_refused_and_changes_nothing(target, deployment, case):
    # GIVEN a caller holding every permission, and the stores as they are
    method, path, payload, headers = BODIES[case]
    before = snapshot(deployment)
    # WHEN the malformed request arrives
    response = asgi_request(target.api.client.app, method, path, [("x-api-key", target.key), *headers], payload)
    # THEN it is a 4xx {"error": ...}, and no table item, queue message or rate-limit slot changed
    assert_refused(response, case)
    if case in TOO_LARGE:
        assert response.status == 413, case
    assert snapshot(deployment) == before, case


@pytest.mark.parametrize("case", list(PATHS))
def test_path_trick_is_refused_and_changes_nothing(target, deployment, case):
    method, path = PATHS[case]
    path = target.fill(path)
    if case == "status-lowercased-id":
        path = path.lower()
    before = snapshot(deployment)
    response = asgi_request(target.api.client.app, method, path, [("x-api-key", target.key)])
    assert_refused(response, case)
    assert response.status != 307 and "location" not in response.headers, case  # never a link to any file
    assert snapshot(deployment) == before, case


def test_wrong_methods_are_405_with_allow(target):
    for method, path, allowed in (("GET", "/get_video", "POST"), ("PUT", "/create_key", "POST"), ("POST", "/health", "GET"), ("PATCH", "/get_keys", "GET")):
        response = asgi_request(target.api.client.app, method, path, {"x-api-key": target.key})
        assert response.status == 405 and response.json() == {"error": "Method Not Allowed"}, (method, path)
        assert response.headers["allow"] == allowed


@pytest.mark.parametrize("case", list(KEYS))
def test_odd_api_keys_are_401_and_never_echoed(target, deployment, case):
    from shared.stores.keys import hash_key

    value = KEYS[case]
    for name, replacement in (
        ("{key_prefix}", target.key[:-1]),
        ("{key_upper}", target.key.upper() if target.key.upper() != target.key else target.key + "X"),
        ("{key_hash}", hash_key(target.key)),
        ("{key}", target.key),
    ):
        value = value.replace(name.encode(), replacement.encode())
    before = snapshot(deployment)
    for method, path, payload in (("GET", "/get_keys", b""), ("POST", "/get_info", with_url()), ("GET", f"/status/{target.own}", b"")):
        response = asgi_request(target.api.client.app, method, path, [("x-api-key", value), *JSON], payload)
        assert response.status == 401, (case, path, response.status, response.body[:200])
        secrets = [value.decode("latin-1")] if len(value) >= 8 else []
        assert_refused(response, case, *secrets)
    assert snapshot(deployment) == before, case


def test_overlong_and_repeated_headers_do_not_break_the_app(target):
    app = target.api.client.app
    many = [(f"x-filler-{i}", "v" * 100) for i in range(500)]
    response = asgi_request(app, "GET", "/get_keys", [("x-api-key", target.key), ("user-agent", "u" * 100_000), *many])
    assert response.status == 200
    # Repeated X-API-Key headers: uvicorn passes both (the first is read), API Gateway joins them with a comma.
    # Either way a valid key placed second authenticates nothing.
    for values in (["nope", target.key], [f"nope,{target.key}"], [f"{target.key},nope"]):
        response = asgi_request(app, "GET", "/get_keys", [("x-api-key", v) for v in values])
        assert response.status == 401 and response.json() == {"error": "Invalid API key"}, values
    response = asgi_request(app, "GET", "/get_keys", [("x-api-key", target.key), ("x-api-key", "nope")])
    assert response.status in (200, 401)
