"""The first key: ADMIN_API_KEY when set, otherwise a generated one when the store is empty."""

from __future__ import annotations

from shared.models import PERMISSIONS
from shared.stores.keys import KeyStore

ADMIN_NAME = "admin"


def ensure_admin_key(keys: KeyStore, admin_api_key: str | None) -> str | None:
    """Make sure an admin key exists; returns a newly generated key (to print once), else None."""
    if admin_api_key:
        keys.replace(ADMIN_NAME, PERMISSIONS, admin_api_key)
        return None
    if keys.any_exists():
        return None
    return keys.create(ADMIN_NAME, PERMISSIONS)
