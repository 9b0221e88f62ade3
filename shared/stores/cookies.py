"""Per-key cookies in DynamoDB, encrypted: AES-256-GCM under a KMS data key (envelope), one item per API key.

A cookies file can be far larger than the 4 KiB KMS encrypts directly, hence the envelope: KMS makes a data key
for each write and keeps only its encrypted form with the item. The encryption context (and the GCM associated
data) binds the ciphertext to its owner, so one key's item copied under another's never decrypts. The API only
writes and reads metadata (domains, count, time); only the worker decrypts, for that key's own jobs.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.aws import AWS_ERRORS, error_code
from shared.errors import TooLarge, Unavailable
from shared.secrets import Secret
from shared.stores import unavailable_on_failure

PURPOSE = "key-cookies"
_NONCE_BYTES = 12
# A DynamoDB item holds at most 400 KB; cookies are compressed first (cookie files compress well).
MAX_STORED_BYTES = 380 * 1024


@dataclass(frozen=True)
class CookieInfo:
    """What GET /cookies may show: never a value."""

    domains: list[str]
    count: int
    updated_at: float


class CookieStore:
    """Cookies table: item `owner` (the key's SHA-256 digest) -> encrypted cookies file plus its metadata."""

    def __init__(self, dynamodb: Any, table: str, kms: Any, kms_key_id: str) -> None:
        self._db = dynamodb
        self._table = table
        self._kms = kms
        self._kms_key_id = kms_key_id

    def put(self, owner: str, text: str, domains: list[str], count: int) -> CookieInfo:
        """Store (or replace) the cookies of `owner`."""
        compressed = zlib.compress(text.encode("utf-8"), 9)
        if len(compressed) > MAX_STORED_BYTES:
            raise TooLarge(f"The cookies are too large to store ({len(compressed)} bytes compressed, at most {MAX_STORED_BYTES})")
        try:
            data_key = self._kms.generate_data_key(KeyId=self._kms_key_id, KeySpec="AES_256", EncryptionContext=_context(owner))
        except AWS_ERRORS as err:
            raise Unavailable(f"The cookie encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, compressed, owner.encode("ascii"))
        info = CookieInfo(domains=sorted(domains), count=count, updated_at=time.time())
        item = {
            "owner": {"S": owner},
            "data_key": {"B": data_key["CiphertextBlob"]},
            "nonce": {"B": nonce},
            "ciphertext": {"B": ciphertext},
            "domains": {"L": [{"S": d} for d in info.domains]},
            "count": {"N": str(count)},
            "updated_at": {"N": repr(info.updated_at)},
        }
        with unavailable_on_failure("The cookie store"):
            self._db.put_item(TableName=self._table, Item=item)
        return info

    def info(self, owner: str) -> CookieInfo | None:
        """The metadata of `owner`'s cookies (nothing is decrypted), or None."""
        with unavailable_on_failure("The cookie store"):
            item = self._db.get_item(
                TableName=self._table, Key={"owner": {"S": owner}}, ConsistentRead=True, ProjectionExpression="domains, #c, updated_at",
                ExpressionAttributeNames={"#c": "count"},
            ).get("Item")
        if not item:
            return None
        return CookieInfo(
            domains=[d["S"] for d in item.get("domains", {}).get("L", [])],
            count=int(item.get("count", {}).get("N", "0")),
            updated_at=float(item.get("updated_at", {}).get("N", "0")),
        )

    def get(self, owner: str) -> Secret | None:
        """`owner`'s cookies file, decrypted (the worker, for that key's jobs), or None."""
        with unavailable_on_failure("The cookie store"):
            item = self._db.get_item(TableName=self._table, Key={"owner": {"S": owner}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        try:
            data_key = self._kms.decrypt(CiphertextBlob=item["data_key"]["B"], EncryptionContext=_context(owner), KeyId=self._kms_key_id)["Plaintext"]
        except AWS_ERRORS as err:
            raise Unavailable(f"The cookie encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err
        compressed = AESGCM(data_key).decrypt(item["nonce"]["B"], item["ciphertext"]["B"], owner.encode("ascii"))
        return Secret(zlib.decompress(compressed).decode("utf-8"))

    def delete(self, owner: str) -> bool:
        """Remove `owner`'s cookies; True when there were some."""
        with unavailable_on_failure("The cookie store"):
            answer = self._db.delete_item(TableName=self._table, Key={"owner": {"S": owner}}, ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))


def _context(owner: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "owner": owner}
