"""Making and revoking API keys: what CreateApiKey / RevokeApiKey and the keys CLI share."""

from __future__ import annotations

import asyncio

from services.access import keys
from services.access.store import AccessStore, StoredKey
from services.common.errors import NotFound


async def create(store: AccessStore, name: str, role: str) -> tuple[StoredKey, str]:
    """(the stored key, the whole credential to show once)."""
    name, role = keys.check_name(name), keys.check_role(role)
    credential, parsed = keys.new_key()
    secret_hash = await asyncio.to_thread(keys.hash_secret, parsed.secret)
    return await store.create_key(parsed.key_id, name, role, secret_hash), credential


async def revoke(store: AccessStore, key_id: str) -> tuple[StoredKey, bool]:
    """(the key, whether it was already revoked); NotFound for an unknown key."""
    key_id = keys.check_key_id(key_id)
    revoked = await store.revoke_key(key_id)
    if revoked is None:
        raise NotFound(f"key_id: no API key {key_id}")
    return revoked
