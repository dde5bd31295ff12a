"""The edge's in-process rate-limit store counts as `limits`' MemoryStorage does, but sweeps
expired counts every few seconds instead of after every hit (the bench found that sweep —
every key, each through a thread — taking most of the edge's CPU)."""

from __future__ import annotations

import asyncio
import threading

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter

from services.edge import rate_limits
from services.edge.rate_limits import LocalCounts


async def test_limits_hold_and_recover_between_sweeps(monkeypatch):
    monkeypatch.setattr(rate_limits, "SWEEP_EVERY_S", 3600.0)  # no sweep during the test
    limiter = MovingWindowRateLimiter(LocalCounts())
    item = parse("3/second")

    assert [await limiter.hit(item, "sender", "a") for _ in range(4)] == [True, True, True, False]
    assert await limiter.hit(item, "sender", "b")  # another key has its own count
    await asyncio.sleep(1.1)
    # The window moved on: allowed again although nothing was swept.
    assert await limiter.hit(item, "sender", "a")


async def test_expired_counts_are_dropped_by_the_next_sweep_without_threads(monkeypatch):
    monkeypatch.setattr(rate_limits, "SWEEP_EVERY_S", 0.5)
    storage = LocalCounts()
    limiter = MovingWindowRateLimiter(storage)
    item = parse("1/second")
    for n in range(500):
        await limiter.hit(item, "sender", f"s{n}")
    threads_before = threading.active_count()
    assert len(storage.events) == 500

    await asyncio.sleep(1.2)  # every entry expired, and a sweep is due
    await limiter.hit(item, "sender", "late")

    assert list(storage.events) == [item.key_for("sender", "late")]
    assert len(storage.locks) <= 1
    assert threading.active_count() == threads_before  # no thread pool was started for it


async def test_fixed_window_counters_expire_too(monkeypatch):
    monkeypatch.setattr(rate_limits, "SWEEP_EVERY_S", 0.0)
    storage = LocalCounts()
    await storage.incr("k1", expiry=0.2)
    await storage.incr("k2", expiry=60)
    await asyncio.sleep(0.3)
    storage.sweep()

    assert "k1" not in storage.storage and "k1" not in storage.expirations
    assert storage.storage["k2"] == 1
