"""Credential → principal, for API keys and OIDC tokens. No gRPC and no SQL in here.

argon2 verification is slow by design, so it runs in a worker thread (the event loop keeps
serving), at most `max_concurrent_verifications` at once (a flood of wrong secrets for a real
key id costs memory and CPU bounded by that, not by the flood). A successful verification is
cached for `cache_ttl_s`, keyed by the SHA-256 of the credential (the credential itself is
never kept): a revocation made through this process drops its entries at once, one made
elsewhere (another replica, the CLI) takes effect here within the TTL.

When that entry expires the key's row is read again (revoked? its role now?), but argon2 runs
again only if the stored hash changed: which credential matched which hash is remembered for
`verified_ttl_s`. Every service re-asks for its key every AUTH_CACHE_TTL_S, and each of those
checks was 0.1-0.2 s of argon2 CPU stalling that service's calls meanwhile.
"""

from __future__ import annotations

import asyncio

from grpc_interceptor.exceptions import Unauthenticated

from services.access import keys
from services.access.oidc import OidcVerifier, looks_like_jwt
from services.access.store import AccessStore
from services.common.auth import API_KEY, OIDC, Principal
from services.common.credential_cache import CredentialCache


class Authenticator:
    def __init__(self, store: AccessStore, oidc: OidcVerifier, *, cache_ttl_s: float = 30.0,
                 verified_ttl_s: float = 3600.0, cache_size: int = 10_000,
                 max_concurrent_verifications: int = 4) -> None:
        self._store = store
        self._oidc = oidc
        self._cache: CredentialCache[Principal] = CredentialCache(cache_ttl_s, cache_size)
        # credential → the stored argon2 hash it was verified against
        self._verified: CredentialCache[str] = CredentialCache(verified_ttl_s, cache_size)
        self._verifying = asyncio.Semaphore(max_concurrent_verifications)

    async def authenticate(self, credential: str) -> Principal:
        credential = credential.strip()
        if credential[:7].lower() == "bearer ":
            credential = credential[7:].strip()
        if not credential:
            raise Unauthenticated("credential: required (an API key or an OIDC bearer token)")
        if keys.looks_like_key(credential):
            return await self._api_key(credential)
        if looks_like_jwt(credential):
            identity = await self._oidc.verify(credential)
            return Principal(identity.subject, identity.display_name, identity.role, OIDC)
        raise Unauthenticated("credential: neither an API key (fte_<key id>_<secret>) nor a JWT")

    def forget_key(self, key_id: str) -> None:
        """Drops cached verifications of a key (called when this process revokes it)."""
        self._cache.drop(lambda principal: principal.key_id == key_id)

    async def _api_key(self, credential: str) -> Principal:
        return await self._cache.get_or_load(credential, lambda: self._verify_key(credential))

    async def _verify_key(self, credential: str) -> Principal:
        parsed = keys.parse(credential)
        if parsed is None:
            raise Unauthenticated("credential: malformed API key (expected fte_<key id>_<secret>)")
        found = await self._store.key_for_verification(parsed.key_id)
        if found is None:
            # One message for unknown and revoked keys, and for a wrong secret below: the
            # answer tells a guesser nothing about which part was wrong.
            raise Unauthenticated("credential: API key is not valid")
        key, secret_hash = found
        if self._verified.get(credential) != secret_hash:
            async with self._verifying:
                ok = await asyncio.to_thread(keys.verify_secret, secret_hash, parsed.secret)
            if not ok:
                raise Unauthenticated("credential: API key is not valid")
            self._verified.put(credential, secret_hash)
        await self._store.mark_used(key.key_id)
        return Principal(f"api-key:{key.key_id}", key.name, key.role, API_KEY, key.key_id)
