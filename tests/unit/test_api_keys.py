"""Key management through the API: lifecycle, permissions, validation, and no plaintext at rest."""

from __future__ import annotations

from shared.models import PERMISSIONS
from shared.stores.keys import hash_key


def test_create_key_returns_201_and_the_key_works(api):
    # GIVEN an admin WHEN it creates a key THEN the answer has the original's shape and the key authenticates
    r = api.client.post("/create_key", json={"name": "alice", "permissions": ["get_video"]}, headers=api.headers())
    assert r.status_code == 201
    body = r.json()
    assert body["message"] == "API key created successfully" and body["name"] == "alice" and len(body["key"]) >= 32
    r = api.client.post("/check_permissions", json={"permissions": ["get_video"]}, headers=api.headers(body["key"]))
    assert r.status_code == 200 and r.json() == {"message": "Permissions granted"}


def test_key_lifecycle_get_list_delete(api):
    key = api.make_key("bob", ["get_info", "get_audio"])
    r = api.client.get("/get_key/bob", headers=api.headers())
    assert r.status_code == 200 and r.json() == {"message": "API key get successfully", "name": "bob", "key": key}
    listing = api.client.get("/get_keys", headers=api.headers()).json()
    assert set(listing) == {"admin", "bob"}
    assert listing["bob"]["key"] == key and listing["bob"]["name"] == "bob" and listing["bob"]["permissions"] == ["get_info", "get_audio"]
    assert listing["admin"]["permissions"] == list(PERMISSIONS)
    r = api.client.delete("/delete_key/bob", headers=api.headers())
    assert r.status_code == 200 and r.json() == {"name": "bob", "message": "API key deleted successfully"}
    # THEN the deleted key no longer authenticates, and a second delete is a 404
    assert api.client.post("/check_permissions", json={"permissions": []}, headers=api.headers(key)).status_code == 401
    r = api.client.delete("/delete_key/bob", headers=api.headers())
    assert r.status_code == 404 and "error" in r.json()
    assert api.client.get("/get_key/bob", headers=api.headers()).status_code == 404


def test_create_key_refuses_duplicates_unknown_permissions_and_missing_fields(api):
    api.make_key("carol", ["get_info"])
    assert api.client.post("/create_key", json={"name": "carol", "permissions": ["get_info"]}, headers=api.headers()).status_code == 409
    for body in ({"name": "dave", "permissions": ["fly"]}, {"permissions": ["get_info"]}, {"name": "dave"}, {"name": "../x", "permissions": []}, {"name": "x" * 65, "permissions": []}, {"name": "ünï", "permissions": []}):
        r = api.client.post("/create_key", json=body, headers=api.headers())
        assert r.status_code == 400, body
        assert set(r.json()) == {"error"}
    assert "dave" not in api.client.get("/get_keys", headers=api.headers()).json()


def test_a_key_cannot_grant_what_it_lacks(api):
    manager = api.make_key("manager", ["create_key", "get_info"])
    r = api.client.post("/create_key", json={"name": "sneaky", "permissions": ["get_info", "delete_key"]}, headers=api.headers(manager))
    assert r.status_code == 403 and "delete_key" in r.json()["error"]
    r = api.client.post("/create_key", json={"name": "fine", "permissions": ["get_info"]}, headers=api.headers(manager))
    assert r.status_code == 201


def test_missing_invalid_and_unprivileged_keys(api):
    user = api.make_key("user", ["get_info"])
    assert api.client.get("/get_keys").json() == {"error": "No API key provided"}
    assert api.client.get("/get_keys").status_code == 401
    r = api.client.get("/get_keys", headers={"X-API-Key": "nope"})
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    for method, path in (("get", "/get_keys"), ("get", "/get_key/admin"), ("delete", "/delete_key/admin")):
        r = api.client.request(method, path, headers=api.headers(user))
        assert r.status_code == 403 and r.json() == {"error": "Permission denied"}
    r = api.client.post("/check_permissions", json={"permissions": ["get_info", "get_video"]}, headers=api.headers(user))
    assert r.status_code == 403 and "error" in r.json()


def test_last_key_manager_cannot_be_deleted(api):
    r = api.client.delete("/delete_key/admin", headers=api.headers())
    assert r.status_code == 409
    api.make_key("second-admin", ["create_key", "delete_key"])
    assert api.client.delete("/delete_key/admin", headers=api.headers()).status_code == 200


def test_no_plaintext_key_is_stored(api, aws):
    # GIVEN keys created through the API WHEN every item of every table is read THEN no key appears in it
    keys = [api.admin_key, api.make_key("k1", ["get_info"]), api.make_key("k2", ["get_video"])]
    dump = []
    for table in (aws.settings.keys_table, aws.settings.tasks_table, aws.settings.rate_limits_table):
        dump.extend(aws.clients.dynamodb.scan(TableName=table)["Items"])
    text = repr(dump)
    for key in keys:
        assert key not in text and key.encode() not in text.encode()
        assert hash_key(key) in text  # looked up by digest


def test_admin_bootstrap_from_environment_value(aws):
    from shared.bootstrap import ensure_admin_key
    from functions.api.deps import Container

    keys = Container(aws.settings, clients=aws.clients).keys
    assert ensure_admin_key(keys, "my-admin-secret-value-1234567890") is None
    assert keys.authenticate("my-admin-secret-value-1234567890").permissions == PERMISSIONS
    # A new value replaces the old one; the old one stops working.
    ensure_admin_key(keys, "another-admin-secret-value-0987654321")
    assert keys.get("admin").key == "another-admin-secret-value-0987654321"
    assert [r.name for r in keys.records()] == ["admin"]
