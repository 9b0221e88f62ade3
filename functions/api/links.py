"""Keyless file links: `/files/<task_id>/<expiry>.<signature>/<name>`, what /status gives as `file`.

The original's clients (the Telegram bots built on yt-dlp-host-api) put `host + status["file"]` in a button that the
end user opens in a browser, without the key. So the link itself carries the right to read that one file until the
task expires: an HMAC-SHA256, with a secret kept in the stack, over the task id, the file name and the expiry. The
token sits in the path, not the query, because the client appends `?field&...` to `file` for info.json filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time

from pydantic import SecretStr

from shared.secrets import SecretSource

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def sign(secret: bytes, task_id: str, name: str, expires: int) -> str:
    """The token for one file of one task, valid until `expires` (Unix seconds)."""
    message = f"{task_id}\n{name}\n{expires}".encode("utf-8")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return f"{expires}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')}"


def verify(secret: bytes, task_id: str, name: str, token: str, now: float) -> bool:
    """True when `token` was made by `sign` for this task and name with this secret and has not expired."""
    match = _TOKEN.match(token)
    if match is None:
        return False
    expires = int(match.group(1))
    return expires > now and hmac.compare_digest(sign(secret, task_id, name, expires), token)


class FileLinks:
    """Makes and checks keyless links with the secret the settings name (ARN, file: or value)."""

    def __init__(self, secrets: SecretSource, reference: SecretStr | None) -> None:
        self._secrets = secrets
        self._reference = reference

    def _secret(self) -> bytes | None:
        secret = self._secrets.get(self._reference)
        return secret.reveal().encode("utf-8") if secret is not None else None

    def path(self, task_id: str, name: str, expires: int) -> str:
        """The link /status shows; the keyed `/files/<task_id>/<name>` when no secret is configured."""
        secret = self._secret()
        if secret is None:
            log.warning("FILE_LINK_SECRET is not set: file links need the key")
            return f"/files/{task_id}/{name}"
        return f"/files/{task_id}/{sign(secret, task_id, name, expires)}/{name}"

    def valid(self, task_id: str, name: str, token: str, now: float | None = None) -> bool:
        secret = self._secret()
        return secret is not None and verify(secret, task_id, name, token, time.time() if now is None else now)
