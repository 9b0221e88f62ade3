"""API keys in DynamoDB: looked up by SHA-256 digest, the key itself kept encrypted with KMS."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from shared.aws import AWS_ERRORS, error_code, is_condition_failure
from shared.errors import Conflict, NotFound, Unauthorized, Unavailable
from shared.stores import unavailable_on_failure

_HASH = "hash#"
_NAME = "name#"


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is looked up."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    """A new API key: 32 random bytes from `secrets`, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """A key's record, without the key itself."""

    name: str
    permissions: tuple[str, ...]
    key_hash: str
    created_at: float = 0.0
    request_limit: int | None = None  # this key's own REQUEST_LIMIT; None: the setting's

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def limit(self, default: int) -> int:
        """The requests this key may make per window."""
        return self.request_limit or default


@dataclass(frozen=True)
class RevealedKey:
    """A key's record with its plaintext, as get_key and get_keys return it."""

    record: ApiKey
    key: str = field(repr=False)


class AuthCache:
    """Records of keys that authenticated in the last `seconds`, by digest (never the key itself), bounded in size.

    Only successes are kept: an unknown key is looked up every time, so a key works as soon as it is created.
    A deleted key, or one whose permissions changed, keeps its old record here for at most `seconds`.
    """

    def __init__(self, seconds: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> ApiKey | None:
        if self.seconds <= 0:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, record: ApiKey) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._entries) >= self._max:
                self._entries = {d: e for d, e in self._entries.items() if e[0] > now}
                while len(self._entries) >= self._max:  # all fresh: drop the oldest
                    del self._entries[next(iter(self._entries))]
            self._entries[record.key_hash] = (now + self.seconds, record)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)


class KeyStore:
    """Keys table: `hash#<digest>` items answer authentication in one read; `name#<name>` items hold the record."""

    def __init__(self, dynamodb: Any, table: str, kms: Any, kms_key_id: str, cache: AuthCache | None = None) -> None:
        self._db = dynamodb
        self._table = table
        self._kms = kms
        self._kms_key_id = kms_key_id
        self._cache = cache or AuthCache(0)

    def authenticate(self, key: str) -> ApiKey:
        """The record of `key`; Unauthorized when there is none. Served from the cache when it holds the key."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        with unavailable_on_failure("The key store"):
            item = self._db.get_item(TableName=self._table, Key={"pk": {"S": _HASH + digest}}, ConsistentRead=True).get("Item")
        # The digest is the lookup key; comparing it again in constant time keeps timing flat if a store ever matches loosely.
        if not item or not hmac.compare_digest(item["key_hash"]["S"], digest):
            raise Unauthorized("Invalid API key")
        record = _record(item)
        self._cache.put(record)
        return record

    def create(self, name: str, permissions: Iterable[str], key: str | None = None, request_limit: int | None = None) -> str:
        """Store a new key under `name` and return it; Conflict when the name (or the key) exists."""
        key = key or generate_key()
        record = ApiKey(name=name, permissions=tuple(permissions), key_hash=hash_key(key), created_at=time.time(), request_limit=request_limit)
        ciphertext = self._encrypt(name, key)
        name_item, hash_item = self._put_items(record, ciphertext)
        with unavailable_on_failure("The key store"):
            # Ordered single-item conditional writes (no transaction: the same code runs on every backend). The name
            # first, the lookup item last: a key authenticates only once both are written, and a crash in between
            # leaves a record that lists but cannot authenticate (delete removes it).
            if not self._put_if(name_item):
                raise Conflict(f"An API key named '{name}' already exists")
            if not self._put_if(hash_item):
                self._db.delete_item(TableName=self._table, Key={"pk": {"S": _NAME + name}})
                raise Conflict(f"An API key named '{name}' already exists")
        return key

    def get(self, name: str) -> RevealedKey:
        """The key named `name`, decrypted; NotFound when there is none."""
        with unavailable_on_failure("The key store"):
            item = self._db.get_item(TableName=self._table, Key={"pk": {"S": _NAME + name}}, ConsistentRead=True).get("Item")
        if not item:
            raise NotFound(f"API key '{name}' not found")
        return RevealedKey(_record(item), self._decrypt(name, item["ciphertext"]["B"]))

    def find(self, name: str) -> ApiKey | None:
        """The record named `name` without decrypting it, or None."""
        with unavailable_on_failure("The key store"):
            item = self._db.get_item(TableName=self._table, Key={"pk": {"S": _NAME + name}}, ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def records(self) -> list[ApiKey]:
        """Every key's record, by name (a scan: key management only, never a request's hot path)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": _NAME}},
            "ConsistentRead": True,
        }
        with unavailable_on_failure("The key store"):
            while True:
                page = self._db.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((_record(i) for i in items), key=lambda r: r.name)

    def reveal_all(self) -> list[RevealedKey]:
        """Every key with its plaintext."""
        out = []
        for record in self.records():
            try:
                out.append(self.get(record.name))
            except NotFound:  # deleted between the scan and the read
                continue
        return out

    def any_exists(self) -> bool:
        """True when at least one key is stored."""
        with unavailable_on_failure("The key store"):
            page = self._db.scan(TableName=self._table, Limit=1, ProjectionExpression="pk")
        return bool(page.get("Items")) or "LastEvaluatedKey" in page

    def delete(self, name: str) -> None:
        """Remove the key named `name`; NotFound when there is none."""
        record = self.find(name)
        if record is None:
            raise NotFound(f"API key '{name}' not found")
        name_item, hash_item = self._delete_items(record)
        with unavailable_on_failure("The key store"):
            # The lookup item first: the key stops authenticating before its record goes.
            self._db.delete_item(**hash_item["Delete"])
            self._cache.forget(record.key_hash)  # this process at once; other API processes within the cache's seconds
            try:
                self._db.delete_item(**name_item["Delete"])
            except AWS_ERRORS as err:
                if is_condition_failure(err):
                    raise NotFound(f"API key '{name}' not found") from err
                raise

    def replace(self, name: str, permissions: Iterable[str], key: str) -> None:
        """Make `name` hold exactly `key` and `permissions` (used by the admin bootstrap)."""
        old = self.find(name)
        record = ApiKey(name=name, permissions=tuple(permissions), key_hash=hash_key(key), created_at=time.time())
        if old and old.key_hash == record.key_hash and set(old.permissions) == set(record.permissions):
            return
        ciphertext = self._encrypt(name, key)
        name_item, hash_item = self._put_items(record, ciphertext, replace_name=old is not None)
        if old and old.key_hash == record.key_hash:
            del hash_item["Put"]["ConditionExpression"]  # same key, new permissions: overwrite in place
        with unavailable_on_failure("The key store"):
            if not self._put_if(hash_item):
                raise Conflict(f"The key '{name}' changed while it was being replaced")
            if not self._put_if(name_item):
                raise Conflict(f"The key '{name}' changed while it was being replaced")
            if old and old.key_hash != record.key_hash:
                self._db.delete_item(**self._delete_items(old)[1]["Delete"])  # the old key's lookup item, last
        if old:
            self._cache.forget(old.key_hash)

    # -- helpers

    def _put_if(self, item: dict[str, Any]) -> bool:
        """One conditional put; False when its condition failed."""
        try:
            self._db.put_item(**item["Put"])
        except AWS_ERRORS as err:
            if is_condition_failure(err):
                return False
            raise
        return True

    def _put_items(self, record: ApiKey, ciphertext: bytes, replace_name: bool = False) -> list[dict[str, Any]]:
        common = {
            "name": {"S": record.name},
            "key_hash": {"S": record.key_hash},
            "permissions": {"L": [{"S": p} for p in record.permissions]},
            "created_at": {"N": repr(record.created_at)},
        }
        if record.request_limit is not None:
            common["request_limit"] = {"N": str(record.request_limit)}
        name_item: dict[str, Any] = {"Put": {"TableName": self._table, "Item": {"pk": {"S": _NAME + record.name}, **common, "ciphertext": {"B": ciphertext}}}}
        if not replace_name:
            name_item["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
        hash_item = {
            "Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": _HASH + record.key_hash}, **common},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return [name_item, hash_item]

    def _delete_items(self, record: ApiKey) -> list[dict[str, Any]]:
        return [
            {"Delete": {"TableName": self._table, "Key": {"pk": {"S": _NAME + record.name}}, "ConditionExpression": "attribute_exists(pk)"}},
            {"Delete": {"TableName": self._table, "Key": {"pk": {"S": _HASH + record.key_hash}}}},
        ]

    def _encrypt(self, name: str, key: str) -> bytes:
        try:
            return self._kms.encrypt(KeyId=self._kms_key_id, Plaintext=key.encode("utf-8"), EncryptionContext={"key_name": name})["CiphertextBlob"]
        except AWS_ERRORS as err:
            raise Unavailable(f"The key encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err

    def _decrypt(self, name: str, ciphertext: bytes) -> str:
        try:
            plaintext = self._kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"key_name": name}, KeyId=self._kms_key_id)["Plaintext"]
        except AWS_ERRORS as err:
            raise Unavailable(f"The key encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err
        return plaintext.decode("utf-8")


def _record(item: dict[str, Any]) -> ApiKey:
    return ApiKey(
        name=item["name"]["S"],
        permissions=tuple(p["S"] for p in item.get("permissions", {}).get("L", [])),
        key_hash=item["key_hash"]["S"],
        created_at=float(item.get("created_at", {}).get("N", "0")),
        request_limit=int(item["request_limit"]["N"]) if "request_limit" in item else None,
    )
