"""`fte_db_pool_connections{pool, state}` reads a service's asyncpg pool (services/common/db.py)
whenever Prometheus scrapes, on the test stack's real PostgreSQL: connections taken show as
in_use, the pool's open connections as size, its ceiling as max."""

from __future__ import annotations

import contextlib

from prometheus_client import REGISTRY

from services.common.config import Settings
from services.common.db import owned_pool


def _pool(state: str) -> float | None:
    return REGISTRY.get_sample_value("fte_db_pool_connections", {"pool": "gauged", "state": state})


async def test_in_use_size_and_max_follow_the_pool(stack):
    settings = Settings(database_url=stack.admin_dsn, db_pool_min=1, db_pool_max=3)
    async with contextlib.AsyncExitStack() as resources:
        pool = await owned_pool(resources, settings, "gauged")
        assert (_pool("in_use"), _pool("size"), _pool("max")) == (0, 1, 3)
        async with pool.acquire(), pool.acquire():
            assert (_pool("in_use"), _pool("size"), _pool("max")) == (2, 2, 3)
        assert (_pool("in_use"), _pool("size")) == (0, 2)
