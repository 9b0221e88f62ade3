"""The API's key cache: a key that authenticated is remembered for KEY_CACHE_SECONDS (by digest), so most requests
make no key lookup; a deleted key or changed permissions take effect in another API process within that time."""

from __future__ import annotations

from typing import Any

from shared.stores.keys import ApiKey, AuthCache, KeyStore, hash_key
from tests.support.api import build_api


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_lookups(aws: Any) -> list[str]:
    """Records every GetItem on the keys table made through the stack's DynamoDB client."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == aws.settings.keys_table:
            seen.append(params["Key"]["pk"]["S"][:5])

    aws.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    return seen


def with_clock(api: Any, aws: Any, clock: Clock, seconds: float = 5) -> None:
    """Give the app's key store a cache on a clock the test moves."""
    api.container.keys = KeyStore(aws.clients.dynamodb, aws.settings.keys_table, aws.clients.kms, aws.settings.keys_kms_key_id, AuthCache(seconds, clock=clock))


def test_key_cache_authenticates_a_known_key_without_a_lookup(make_api, aws):
    # GIVEN the API with the default cache and a key
    api = make_api()
    key = api.make_key("cached", ["get_info"])
    lookups = key_lookups(aws)
    # WHEN the key makes three requests
    for _ in range(3):
        assert api.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=api.headers(key)).status_code == 200
    # THEN only the first looked it up
    assert lookups == ["hash#"]


def test_key_cache_never_remembers_an_unknown_key(make_api, aws):
    api = make_api()
    lookups = key_lookups(aws)
    for _ in range(2):
        assert api.client.get("/usage", headers=api.headers("not-a-key")).status_code == 401
    assert lookups == ["hash#", "hash#"]


def test_key_cache_zero_looks_the_key_up_on_every_request(make_api, aws):
    api = make_api(key_cache_seconds=0)
    key = api.make_key("uncached", ["get_info"])
    lookups = key_lookups(aws)
    for _ in range(2):
        api.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=api.headers(key))
    assert lookups == ["hash#", "hash#"]


def test_deleted_key_stops_at_once_where_deleted_and_within_cache_seconds_elsewhere(make_api, aws):
    # GIVEN two API processes (two apps on one stack), B with a 5 s cache on a test clock, and a key B has seen
    a, b, clock = make_api(), make_api(), Clock()
    with_clock(b, aws, clock)
    key = a.make_key("leaving", ["get_info"])
    assert b.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=b.headers(key)).status_code == 200
    # WHEN A deletes it
    assert a.client.delete("/delete_key/leaving", headers=a.headers()).status_code == 200
    # THEN A refuses it at once
    assert a.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=a.headers(key)).status_code == 401
    # AND B still serves it from its cache until 5 s have passed, then refuses it
    clock.now += 4.9
    assert b.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=b.headers(key)).status_code == 200
    clock.now += 0.2
    r = b.client.post("/check_permissions", json={"permissions": ["get_info"]}, headers=b.headers(key))
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}


def test_changed_permissions_apply_within_cache_seconds(make_api, aws):
    # GIVEN a key with get_info that an API process has seen
    api, clock = make_api(), Clock()
    with_clock(api, aws, clock)
    key = api.make_key("narrowed", ["get_info", "get_audio"])
    assert api.client.post("/check_permissions", json={"permissions": ["get_audio"]}, headers=api.headers(key)).status_code == 200
    # WHEN another process replaces its permissions (the admin bootstrap's path)
    KeyStore(aws.clients.dynamodb, aws.settings.keys_table, aws.clients.kms, aws.settings.keys_kms_key_id).replace("narrowed", ["get_info"], key)
    # THEN the old permissions hold at most the cache's 5 s
    clock.now += 5.1
    assert api.client.post("/check_permissions", json={"permissions": ["get_audio"]}, headers=api.headers(key)).status_code == 403


def test_auth_cache_is_bounded_and_keeps_digests_only():
    clock = Clock()
    cache = AuthCache(5, max_entries=2, clock=clock)
    records = [ApiKey(name=f"k{n}", permissions=("get_info",), key_hash=hash_key(f"secret-{n}")) for n in range(3)]
    for record in records:
        cache.put(record)
    assert cache.get(records[0].key_hash) is None  # the oldest went to make room
    assert cache.get(records[2].key_hash) == records[2]
    assert not any("secret" in d for d in cache._entries)
    clock.now += 5
    assert cache.get(records[2].key_hash) is None
