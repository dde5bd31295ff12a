"""Remembers who a credential belongs to for a short time, so the slow check (argon2, or a call
to the access service) runs once per TTL, not once per request — and once, not once per waiting
request, when an entry is missing while many requests carry it (`get_or_load`).

Keyed by the credential's SHA-256: the credential itself is never kept. Bounded: past `size`
entries the least recently stored goes. A revocation elsewhere takes effect here within `ttl_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class CredentialCache(Generic[T]):
    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, T]] = OrderedDict()
        self._loading: dict[bytes, asyncio.Future[T]] = {}

    @staticmethod
    def _digest(credential: str) -> bytes:
        return hashlib.sha256(credential.encode()).digest()

    def get(self, credential: str) -> T | None:
        """What `put` stored for this credential, unless it has expired."""
        entry = self._entries.get(self._digest(credential))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, credential: str, value: T) -> None:
        if self.ttl_s <= 0:
            return
        digest = self._digest(credential)
        self._entries[digest] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def get_or_load(self, credential: str, load: Callable[[], Awaitable[T]]) -> T:
        """What is cached for this credential, else `load()`'s answer, stored. Requests asking
        while a load for the same credential is running wait for that one (its answer or its
        exception): without this, every request arriving while an entry is missing (at start,
        and each time it expires under steady traffic) ran its own check, and a few hundred
        argon2 verifications or Authenticate calls queued behind each other past their deadline
        (issue 17: the ticket page's polls stalled 10 s and failed at 1,000 users)."""
        cached = self.get(credential)
        if cached is not None:
            return cached
        digest = self._digest(credential)
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.ensure_future(self._load_and_put(credential, load))
            self._loading[digest] = loading
            loading.add_done_callback(lambda done: self._loaded(digest, done))
        # Shielded: one waiter giving up (its deadline, a client gone) must not cancel the
        # check the others wait for.
        return await asyncio.shield(loading)

    async def _load_and_put(self, credential: str, load: Callable[[], Awaitable[T]]) -> T:
        value = await load()
        self.put(credential, value)
        return value

    def _loaded(self, digest: bytes, done: asyncio.Future[T]) -> None:
        self._loading.pop(digest, None)
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter had gone: no "never retrieved" noise

    def drop(self, matches: Callable[[T], bool]) -> None:
        """Forgets every entry whose value `matches` (e.g. the principal of a revoked key)."""
        for digest in [d for d, (_, value) in self._entries.items() if matches(value)]:
            del self._entries[digest]
