"""Remembers who a credential belongs to for a short time, so the slow check (argon2, or a call
to the access service) runs once per TTL, not once per request.

Keyed by the credential's SHA-256: the credential itself is never kept. Bounded: past `size`
entries the least recently stored goes. A revocation elsewhere takes effect here within `ttl_s`.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class CredentialCache(Generic[T]):
    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, T]] = OrderedDict()

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

    def drop(self, matches: Callable[[T], bool]) -> None:
        """Forgets every entry whose value `matches` (e.g. the principal of a revoked key)."""
        for digest in [d for d, (_, value) in self._entries.items() if matches(value)]:
            del self._entries[digest]
