"""The credential cache remembers a principal for its TTL only, keeps no credential in clear,
stays within its size, forgets what a revocation names, and runs one check for all the
requests waiting on a missing entry."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.common.credential_cache import CredentialCache


def test_an_entry_is_found_until_its_ttl_runs_out():
    cache: CredentialCache[str] = CredentialCache(ttl_s=0.2)
    cache.put("fte_key_secret", "ops")
    assert cache.get("fte_key_secret") == "ops"
    assert cache.get("fte_key_other") is None
    time.sleep(0.25)
    assert cache.get("fte_key_secret") is None


def test_the_credential_itself_is_never_kept():
    cache: CredentialCache[str] = CredentialCache(ttl_s=60)
    cache.put("fte_key_secret", "ops")
    assert all(b"fte_key_secret" not in digest for digest in cache._entries)


def test_the_oldest_entry_goes_past_the_size_and_a_drop_forgets_matches():
    cache: CredentialCache[str] = CredentialCache(ttl_s=60, size=2)
    for n in range(3):
        cache.put(f"cred-{n}", f"p{n}")
    assert [cache.get(f"cred-{n}") for n in range(3)] == [None, "p1", "p2"]
    cache.drop(lambda principal: principal == "p1")
    assert cache.get("cred-1") is None and cache.get("cred-2") == "p2"


def test_a_zero_ttl_remembers_nothing():
    cache: CredentialCache[str] = CredentialCache(ttl_s=0)
    cache.put("cred", "p")
    assert cache.get("cred") is None


async def test_requests_waiting_for_a_missing_entry_share_one_check():
    cache: CredentialCache[str] = CredentialCache(ttl_s=60)
    calls = 0
    release = asyncio.Event()

    async def check() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "ops"

    waiting = [asyncio.create_task(cache.get_or_load("fte_key_secret", check)) for _ in range(50)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one caller giving up does not cancel the check the others wait for
    release.set()
    answers = await asyncio.gather(*waiting[1:])
    assert (calls, set(answers)) == (1, {"ops"})
    assert await cache.get_or_load("fte_key_secret", check) == "ops" and calls == 1  # stored


async def test_a_failed_check_reaches_every_waiter_and_is_not_remembered():
    cache: CredentialCache[str] = CredentialCache(ttl_s=60)
    calls = 0

    async def refuse() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise PermissionError("not valid")

    results = await asyncio.gather(*(cache.get_or_load("bad", refuse) for _ in range(10)),
                                   return_exceptions=True)
    assert calls == 1 and all(isinstance(r, PermissionError) for r in results)
    with pytest.raises(PermissionError):
        await cache.get_or_load("bad", refuse)
    assert calls == 2
