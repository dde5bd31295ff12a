"""An edge whose rate-limit store cannot be reached keeps limiting with its own counts (no
exception reaches the request), warns once, and an empty or memory:// URI means no store."""

from __future__ import annotations

import logging

from limits import parse

from services.edge import rate_limits
from services.edge.rate_limits import EdgeRateLimiter
from tests.ports import free_port


async def test_unreachable_store_falls_back_to_local_counts_and_warns_once(caplog):
    limiter = EdgeRateLimiter(f"redis://127.0.0.1:{free_port()}")  # nothing listens there
    assert limiter.shared
    with caplog.at_level(logging.WARNING, logger=rate_limits.__name__):
        results = [await limiter.hit(parse("2/minute"), "sender", "ada@example.com") for _ in range(3)]
    assert results == [True, True, False]
    warnings = [r for r in caplog.records if r.name == rate_limits.__name__]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert "ada@example.com" not in caplog.text


def test_empty_or_memory_uri_means_in_process_counts():
    assert not EdgeRateLimiter("").shared
    assert not EdgeRateLimiter("memory://").shared
    assert EdgeRateLimiter("redis://127.0.0.1:6379").shared
