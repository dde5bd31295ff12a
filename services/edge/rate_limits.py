"""The edge's rate limiter: one count for every edge replica when a shared store is configured.

RATE_LIMIT_STORAGE_URI names the store (`redis://host:port`, or any async storage URI of the
`limits` library); empty or `memory://` keeps the counts in this process, which is right for a
single replica only: N replicas with memory stores allow N times the rate.
"""

from __future__ import annotations

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
        self._local = MovingWindowRateLimiter(MemoryStorage())
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
