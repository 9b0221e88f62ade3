"""Per-key webhook signing secrets, KMS-encrypted, in the keys table next to the key they belong to.

Item `whsec#<key digest>`: `current` (ciphertext), and after a rotation `previous` (ciphertext) with
`previous_until`, the end of the grace period during which events are signed with both. The encryption context
binds each ciphertext to its key and purpose, so an item copied under another key never decrypts.
"""

from __future__ import annotations

import time
from typing import Any

from shared.aws import AWS_ERRORS, error_code, is_condition_failure
from shared.errors import Unavailable
from shared.secrets import Secret
from shared.stores import unavailable_on_failure
from shared.webhooks import new_secret

PURPOSE = "webhook-secret"
PREFIX = "whsec#"
GRACE_SECONDS = 24 * 3600


class WebhookSecretStore:
    """Reads, creates, rotates and deletes the signing secrets of one key (by its digest)."""

    def __init__(self, dynamodb: Any, table: str, kms: Any, kms_key_id: str, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._kms = kms
        self._kms_key_id = kms_key_id
        self._clock = clock

    def get_or_create(self, owner: str) -> Secret:
        """The key's current secret, made on first use."""
        item = self._item(owner)
        if item is not None:
            return self._decrypt(owner, item["current"]["B"])
        secret = new_secret()
        with unavailable_on_failure("The key store"):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={"pk": {"S": PREFIX + owner}, "current": {"B": self._encrypt(owner, secret)}, "created_at": {"N": repr(self._clock())}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except AWS_ERRORS as err:
                if not is_condition_failure(err):
                    raise
                item = self._item(owner)  # made by a concurrent first call: that one is the secret
                if item is None:
                    raise
                return self._decrypt(owner, item["current"]["B"])
        return secret

    def rotate(self, owner: str) -> Secret:
        """A new current secret; the old one keeps signing for GRACE_SECONDS."""
        item = self._item(owner)
        secret = new_secret()
        values: dict[str, Any] = {":new": {"B": self._encrypt(owner, secret)}}
        if item is None:
            update, condition = "SET #c = :new", "attribute_not_exists(pk)"
        else:
            update = "SET #c = :new, previous = :old, previous_until = :until"
            condition = "#c = :old"
            values[":old"] = item["current"]
            values[":until"] = {"N": repr(self._clock() + GRACE_SECONDS)}
        with unavailable_on_failure("The key store"):
            try:
                self._db.update_item(
                    TableName=self._table, Key={"pk": {"S": PREFIX + owner}}, UpdateExpression=update, ConditionExpression=condition,
                    ExpressionAttributeNames={"#c": "current"}, ExpressionAttributeValues=values,
                )
            except AWS_ERRORS as err:
                if is_condition_failure(err):  # another rotation won the race: its secret is the current one
                    return self.get_or_create(owner)
                raise
        return secret

    def signing(self, owner: str) -> list[Secret]:
        """The secrets an event is signed with now: the current one, plus the previous one within its grace; [] if none."""
        item = self._item(owner)
        if item is None:
            return []
        out = [self._decrypt(owner, item["current"]["B"])]
        if "previous" in item and float(item.get("previous_until", {}).get("N", "0")) > self._clock():
            out.append(self._decrypt(owner, item["previous"]["B"]))
        return out

    def delete(self, owner: str) -> None:
        """Remove the key's secrets (the key is being deleted)."""
        with unavailable_on_failure("The key store"):
            self._db.delete_item(TableName=self._table, Key={"pk": {"S": PREFIX + owner}})

    def _item(self, owner: str) -> dict[str, Any] | None:
        with unavailable_on_failure("The key store"):
            return self._db.get_item(TableName=self._table, Key={"pk": {"S": PREFIX + owner}}, ConsistentRead=True).get("Item")

    def _encrypt(self, owner: str, secret: Secret) -> bytes:
        try:
            return self._kms.encrypt(KeyId=self._kms_key_id, Plaintext=secret.reveal().encode("ascii"), EncryptionContext=_context(owner))["CiphertextBlob"]
        except AWS_ERRORS as err:
            raise Unavailable(f"The key encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err

    def _decrypt(self, owner: str, ciphertext: bytes) -> Secret:
        try:
            plain = self._kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=_context(owner), KeyId=self._kms_key_id)["Plaintext"]
        except AWS_ERRORS as err:
            raise Unavailable(f"The key encryption service is unavailable ({error_code(err) or 'no answer'}), try again later") from err
        return Secret(plain.decode("ascii"))


def _context(owner: str) -> dict[str, str]:
    return {"purpose": PURPOSE, "owner": owner}
