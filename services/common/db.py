"""The asyncpg pool a service uses for its own schema (traced by the asyncpg instrumentation)."""

from __future__ import annotations

import contextlib

import asyncpg

from services.common.config import Settings
from services.common.errors import Unavailable


async def open_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Connects with the service's own role; every query runs with a statement timeout so a
    stuck query cannot outlive the RPC deadline by much."""
    if not dsn:
        raise Unavailable("DATABASE_URL is not set")
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=15,
        server_settings={"statement_timeout": "15000", "application_name": "fte"},
    )


async def owned_pool(resources: contextlib.AsyncExitStack, settings: Settings) -> asyncpg.Pool:
    """The service's pool (DATABASE_URL, DB_POOL_MIN/MAX), closed with `resources`."""
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    resources.push_async_callback(pool.close)
    return pool
