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


class _SessionlessConnection(_Connection):
    """A connection of a service whose code leaves nothing in the session between two uses (no
    advisory lock outside a transaction, no LISTEN, no SET but SET LOCAL, no cursor outside a
    transaction): its release skips the reset query, one round trip of ~100 µs of CPU, client
    and server together (tests/bench/pool_release.py), about eight per reply. asyncpg still rolls back a transaction a
    released connection left open, whatever the query (`Connection.reset`)."""

    def get_reset_query(self) -> str:
        return ""


async def open_pool(dsn: str, min_size: int = 1, max_size: int = 10, *,
                    session_state: bool = True) -> asyncpg.Pool:
    """Connects with the service's own role; every query runs with a statement timeout so a
    stuck query cannot outlive the RPC deadline by much. `session_state=False` for a service
    that keeps nothing in a session (`_SessionlessConnection`); the edge's outbox holds a
    session advisory lock, which the reset frees should its unlock fail."""
    if not dsn:
        raise Unavailable("DATABASE_URL is not set")
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=15,
        connection_class=_Connection if session_state else _SessionlessConnection,
        server_settings={"statement_timeout": "15000", "application_name": "fte"},
    )


async def owned_pool(resources: contextlib.AsyncExitStack, settings: Settings, name: str, *,
                     session_state: bool = True) -> asyncpg.Pool:
    """The service's pool (DATABASE_URL, DB_POOL_MIN/MAX; `session_state` as `open_pool`),
    closed with `resources`, and read at every scrape as `fte_db_pool_connections{pool=name}`."""
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max,
                           session_state=session_state)
    resources.push_async_callback(pool.close)
    observe_pool(name, pool)
    return pool


def observe_pool(name: str, pool: asyncpg.Pool) -> None:
    """Gauges of `pool` read when Prometheus scrapes: in_use (taken from the pool), size (open
    connections) and max. A later pool of the same name (a restart in one process) replaces it."""
    DB_POOL.labels(name, "in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
    DB_POOL.labels(name, "size").set_function(pool.get_size)
    DB_POOL.labels(name, "max").set_function(pool.get_max_size)
