"""The asyncpg pool a service uses for its own schema (traced by the asyncpg instrumentation)."""

from __future__ import annotations

import contextlib

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from services.common.config import Settings
from services.common.errors import Unavailable
from services.common.metrics import DB_POOL


class _Connection(asyncpg.Connection):
    """asyncpg's connection with the reset a pool runs on every release left out of traces.
    That reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is the pool's
    housekeeping: traced, it put a span named SELECT after every use of a connection, a third
    of a reply's SQL spans, each ~40 µs of CPU, ~140 µs where spans are exported
    (tests/bench/README.md). Statements, BEGIN and COMMIT keep their spans."""

    async def reset(self, *, timeout: float | None = None) -> None:
        with suppress_instrumentation():
            await super().reset(timeout=timeout)


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
        connection_class=_Connection,
        server_settings={"statement_timeout": "15000", "application_name": "fte"},
    )


async def owned_pool(resources: contextlib.AsyncExitStack, settings: Settings, name: str) -> asyncpg.Pool:
    """The service's pool (DATABASE_URL, DB_POOL_MIN/MAX), closed with `resources`, and read at
    every scrape as `fte_db_pool_connections{pool=name}`."""
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    resources.push_async_callback(pool.close)
    observe_pool(name, pool)
    return pool


def observe_pool(name: str, pool: asyncpg.Pool) -> None:
    """Gauges of `pool` read when Prometheus scrapes: in_use (taken from the pool), size (open
    connections) and max. A later pool of the same name (a restart in one process) replaces it."""
    DB_POOL.labels(name, "in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
    DB_POOL.labels(name, "size").set_function(pool.get_size)
    DB_POOL.labels(name, "max").set_function(pool.get_max_size)
