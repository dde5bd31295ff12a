"""The edge's rate limiter: one count for every edge replica when a shared store is configured.

RATE_LIMIT_STORAGE_URI names the store (`redis://host:port`, or any async storage URI of the
`limits` library); empty or `memory://` keeps the counts in this process, which is right for a
single replica only: N replicas with memory stores allow N times the rate.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import time

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

log = logging.getLogger(__name__)

# After the shared store fails, how long the local limiter stands in before the shared one is
# tried again: during an outage each request would otherwise pay a failed connect first.
RETRY_SHARED_AFTER_S = 5.0


# How often the in-process store drops expired counts (memory housekeeping only: a count past
# its window is ignored when read, swept or not).
SWEEP_EVERY_S = 10.0


class LocalCounts(MemoryStorage):
    """`limits`' in-process store, sweeping expired entries every SWEEP_EVERY_S instead of after
    every hit.

    The stock MemoryStorage (limits 5.8) starts a sweep of *every* key after each hit, and its
    moving-window sweep hands each key to a thread (`asyncio.to_thread`). Every form
    submission comes from its own sender key, so the edge spent more CPU in that sweep than in
    the submissions (the bench's flame graph: ~60% of the edge's CPU in the end-to-end run, in
    thread hand-offs). Same counts and answers, one synchronous pass every few seconds.
    The two methods replaced are the base class's private ones (limits is pinned).
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_S
            self.sweep()

    def sweep(self) -> None:
        """Drops moving-window entries past their expiry and counters past theirs. Entries of a
        key are newest first, so the live ones are a prefix."""
        now = time.time()
        for key in list(self.events):
            entries = self.events[key]
            live = bisect.bisect_left(entries, -now, key=lambda e: -e.expiry)
            if live:
                self.events[key] = entries[:live]
            else:
                del self.events[key]
                if key not in self.storage:
                    self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                if key not in self.events:
                    self.locks.pop(key, None)


def _async_uri(uri: str) -> str:
    # `redis://` is what people (and REDIS_URL) write; `limits` wants `async+redis://` for its
    # asyncio storage, whose client for Redis is `coredis`.
    return uri if uri.startswith("async+") else f"async+{uri}"


class EdgeRateLimiter:
    """`hit(limit, *identifiers)` as in `limits`, over the shared store when there is one.

    When the shared store cannot be reached the edge fails over to the in-process limiter (with
    a warning) instead of answering 500 or 503: the limits exist to stop abuse, not to gate
    customers, and a Redis outage must not take the support form down with it. Each replica
    then still enforces the full rate on its own, so the worst case is N replicas x the rate
    for the length of the outage, never no limit at all.
    """

    def __init__(self, storage_uri: str = "", timeout_s: float = 0.5) -> None:
        self._local = MovingWindowRateLimiter(LocalCounts())
        self._shared: MovingWindowRateLimiter | None = None
        self._shared_storage: Storage | None = None
        self._retry_shared_at = 0.0
        uri = storage_uri.strip()
        if uri and not uri.startswith(("memory://", "async+memory://")):
            # wrap_exceptions: any client error (refused, timeout, reset) is one StorageError.
            self._shared_storage = storage_from_string(
                _async_uri(uri), wrap_exceptions=True,
                connect_timeout=timeout_s, stream_timeout=timeout_s,
            )
            self._shared = MovingWindowRateLimiter(self._shared_storage)

    @property
    def shared(self) -> bool:
        return self._shared is not None

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        # The store keeps keys, not addresses: a sender's email never sits in Redis in clear.
        key = [identifiers[0], *(hashlib.sha256(i.encode()).hexdigest()[:32] for i in identifiers[1:])]
        if self._shared is not None and time.monotonic() >= self._retry_shared_at:
            try:
                allowed = await self._shared.hit(item, *key)
            except StorageError as exc:
                if self._retry_shared_at == 0.0:
                    log.warning("rate-limit store unreachable (%s); limiting per replica until it is back",
                                type(exc.storage_error).__name__)
                self._retry_shared_at = time.monotonic() + RETRY_SHARED_AFTER_S
            else:
                if self._retry_shared_at:
                    log.info("rate-limit store reachable again; limits are shared across replicas")
                    self._retry_shared_at = 0.0
                return allowed
        return await self._local.hit(item, *key)
