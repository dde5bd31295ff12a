"""The credential cache remembers a principal for its TTL only, keeps no credential in clear,
stays within its size, and forgets what a revocation names."""

from __future__ import annotations

import time

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
