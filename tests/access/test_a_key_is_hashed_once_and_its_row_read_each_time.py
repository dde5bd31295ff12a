"""argon2 runs once per key and stored hash, not at every expiry of the cached principal; the
key's row is still read at each expiry, so a revocation made elsewhere (the CLI, in the
database) takes effect within AUTH_CACHE_TTL_S as before. A wrong secret is
never remembered. Real PostgreSQL; argon2 calls are counted by wrapping the real function."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from grpc_interceptor.exceptions import Unauthenticated

from services.access import api_keys, keys
from services.access.authenticator import Authenticator
from services.access.oidc import OidcConfig, OidcVerifier
from services.access.store import AccessStore
from services.common.db import open_pool

PRINCIPAL_TTL_S = 0.05


@pytest.fixture
async def authenticator(access_dsn):
    pool = await open_pool(access_dsn, min_size=1, max_size=2)
    async with httpx.AsyncClient() as http:
        store = AccessStore(pool)
        yield store, Authenticator(store, OidcVerifier(OidcConfig("", "", ""), http),
                                   cache_ttl_s=PRINCIPAL_TTL_S)
    await pool.close()


@pytest.fixture
def argon2_runs(monkeypatch) -> list[str]:
    runs: list[str] = []
    real = keys.verify_secret

    def counted(secret_hash: str, secret: str) -> bool:
        runs.append(secret_hash)
        return real(secret_hash, secret)

    monkeypatch.setattr(keys, "verify_secret", counted)
    return runs


async def test_a_known_key_is_not_hashed_again_but_a_revocation_still_applies(authenticator, argon2_runs):
    store, auth = authenticator
    key, credential = await api_keys.create(store, "hashed-once", "viewer")

    first = await auth.authenticate(credential)
    for _ in range(3):
        await asyncio.sleep(PRINCIPAL_TTL_S * 2)  # the principal expired: the row is read again
        again = await auth.authenticate(credential)
    assert again == first and again.role == "viewer"
    assert len(argon2_runs) == 1

    await store.revoke_key(key.key_id)  # as the CLI does: straight in the database
    await asyncio.sleep(PRINCIPAL_TTL_S * 2)
    with pytest.raises(Unauthenticated):
        await auth.authenticate(credential)


async def test_a_wrong_secret_is_hashed_every_time(authenticator, argon2_runs):
    store, auth = authenticator
    _, credential = await api_keys.create(store, "wrong-guess", "viewer")
    wrong = credential[:-1] + ("A" if credential[-1] != "A" else "B")

    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(wrong)
    assert len(argon2_runs) == 2
    await auth.authenticate(credential)  # the right one still works afterwards
    assert len(argon2_runs) == 3
