"""Per-key cookies through the API: stored encrypted, described without values, owned by one key, gone with it."""

from __future__ import annotations

from shared.stores.cookies import CookieStore
from shared.stores.keys import hash_key
from tests.support.state import scan_all

VALUE = "v4lue-that-must-never-come-back"
JAR = f"# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t0\tSID\t{VALUE}\n#HttpOnly_.google.com\tTRUE\t/\tTRUE\t0\tHSID\t{VALUE}2\n"


def _store(api) -> CookieStore:  # type: ignore[no-untyped-def]
    return api.container.cookies


def test_cookies_lifecycle_put_get_delete_never_echoes_a_value(api, aws) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a key that may create tasks
    key = api.make_key("app", ["get_video"])
    # WHEN it stores its cookies  THEN 204, and GET shows domains and count only
    r = api.client.put("/cookies", json={"cookies": JAR}, headers=api.headers(key))
    assert r.status_code == 204 and r.content == b""
    r = api.client.get("/cookies", headers=api.headers(key))
    assert r.status_code == 200 and VALUE not in r.text
    assert r.json()["domains"] == ["google.com", "youtube.com"] and r.json()["count"] == 2 and r.json()["updated_at"] > 0
    # ... and nothing at rest holds the value in plain text
    items = scan_all(aws, aws.settings.cookies_table)
    assert len(items) == 1 and VALUE.encode() not in repr(items).encode()
    # ... while the worker's read decrypts it for this key
    assert VALUE in _store(api).get(hash_key(key)).reveal()
    # WHEN it deletes them  THEN 204, and they are gone
    assert api.client.delete("/cookies", headers=api.headers(key)).status_code == 204
    r = api.client.get("/cookies", headers=api.headers(key))
    assert r.status_code == 404 and "error" in r.json()
    assert api.client.delete("/cookies", headers=api.headers(key)).status_code == 204  # idempotent


def test_cookies_belong_to_one_key(api) -> None:  # type: ignore[no-untyped-def]
    alice, bob = api.make_key("alice", ["get_video"]), api.make_key("bob", ["get_info"])
    assert api.client.put("/cookies", json={"cookies": JAR}, headers=api.headers(alice)).status_code == 204
    # Bob sees none, and his delete leaves Alice's in place
    assert api.client.get("/cookies", headers=api.headers(bob)).status_code == 404
    assert api.client.delete("/cookies", headers=api.headers(bob)).status_code == 204
    assert api.client.get("/cookies", headers=api.headers(alice)).status_code == 200
    assert _store(api).get(hash_key(bob)) is None


def test_cookies_need_a_task_permission_and_a_key(api) -> None:  # type: ignore[no-untyped-def]
    manager = api.make_key("manager", ["get_keys"])
    for method in ("put", "get", "delete"):
        kwargs = {"json": {"cookies": JAR}} if method == "put" else {}
        r = getattr(api.client, method)("/cookies", headers=api.headers(manager), **kwargs)
        assert r.status_code == 403 and r.json() == {"error": "Permission denied"}, method
        r = getattr(api.client, method)("/cookies", **kwargs)
        assert r.status_code == 401, method


def test_cookies_malformed_text_is_400_and_changes_nothing(api, aws) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("app", ["get_audio"])
    assert api.client.put("/cookies", json={"cookies": JAR}, headers=api.headers(key)).status_code == 204
    before = scan_all(aws, aws.settings.cookies_table)
    for body in (
        {"cookies": f".youtube.com TRUE / TRUE 0 SID {VALUE}"},  # spaces, not tabs
        {"cookies": '[{"name": "SID", "value": "x"}]'},  # JSON export
        {"cookies": "# only a comment\n"},
        {"cookies": ""},
        {"cookies": 42},
        {"cookie": JAR},
        {},
    ):
        r = api.client.put("/cookies", json=body, headers=api.headers(key))
        assert r.status_code == 400, body
        assert set(r.json()) == {"error"} and VALUE not in r.text, body
    assert scan_all(aws, aws.settings.cookies_table) == before


def test_cookies_body_over_one_mib_is_413(api) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("app", ["get_video"])
    line = ".example.com\tTRUE\t/\tFALSE\t0\tn\t" + "x" * 1000 + "\n"
    big = "# Netscape HTTP Cookie File\n" + line * 1100  # ~1.1 MB
    r = api.client.put("/cookies", json={"cookies": big}, headers=api.headers(key))
    assert r.status_code == 413 and "error" in r.json()
    # a large file under the limit is fine (other bodies keep their 64 KiB limit)
    assert api.client.put("/cookies", json={"cookies": "# Netscape HTTP Cookie File\n" + line * 900}, headers=api.headers(key)).status_code == 204


def test_cookies_are_deleted_with_their_key(api, aws) -> None:  # type: ignore[no-untyped-def]
    key = api.make_key("temp", ["get_video"])
    assert api.client.put("/cookies", json={"cookies": JAR}, headers=api.headers(key)).status_code == 204
    assert api.client.delete("/delete_key/temp", headers=api.headers()).status_code == 200
    assert scan_all(aws, aws.settings.cookies_table) == []


def test_cookies_too_large_to_store_are_413_and_change_nothing(api, aws) -> None:  # type: ignore[no-untyped-def]
    import secrets

    key = api.make_key("app", ["get_video"])
    # ~0.9 MB of random values: under the body limit, but over what one DynamoDB item holds even compressed
    lines = "".join(f".example.com\tTRUE\t/\tFALSE\t0\tn{i}\t{secrets.token_urlsafe(750)}\n" for i in range(900))
    r = api.client.put("/cookies", json={"cookies": "# Netscape HTTP Cookie File\n" + lines}, headers=api.headers(key))
    assert r.status_code == 413 and "too large" in r.json()["error"]
    assert scan_all(aws, aws.settings.cookies_table) == []
