"""A service's pool (services/common/db.py) traces every statement a handler runs, not the
reset asyncpg runs when a connection goes back to the pool; the reset itself still happens."""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.db import open_pool
from services.common.telemetry import setup_tracing


def _statements(exporter: InMemorySpanExporter, parent) -> list[str]:
    return [
        str(s.attributes.get("db.statement") or s.attributes.get("db.query.text"))
        for s in exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.get_span_context().span_id
    ]


async def test_a_released_connection_is_reset_without_a_span(stack):
    provider = setup_tracing("pool-test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pool = await open_pool(stack.admin_dsn, min_size=1, max_size=1)
    try:
        with trace.get_tracer("test").start_as_current_span("handler") as handler:
            async with pool.acquire() as conn:
                await conn.execute("SET statement_timeout = 1234")
            async with pool.acquire() as conn:  # the same connection: the pool holds one
                timeout = await conn.fetchval("SHOW statement_timeout")
    finally:
        await pool.close()

    assert timeout == "15s", "the pool's reset did not run: a handler's SET outlived its use"
    assert _statements(exporter, handler) == ["SET statement_timeout = 1234", "SHOW statement_timeout"]


async def test_a_pool_without_session_state_skips_the_reset_query_but_still_ends_a_transaction(stack):
    # The pool of a service that keeps nothing in a session (every service but the edge).
    pool = await open_pool(stack.admin_dsn, min_size=1, max_size=1, session_state=False)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.execute("SET statement_timeout = 1234")  # what such a service never does
            await conn.execute("BEGIN")  # left open, as a handler cancelled mid-transaction can
        async with pool.acquire() as conn:  # the same connection: the pool holds one
            in_transaction = conn.is_in_transaction()
            timeout = await conn.fetchval("SHOW statement_timeout")
    finally:
        await pool.close()

    assert not in_transaction
    assert sent[:3] == ["SET statement_timeout = 1234", "BEGIN", "ROLLBACK"]
    assert not any("RESET ALL" in query for query in sent)
    assert timeout == "1234ms", "the reset query ran"


async def test_a_connection_postgresql_dropped_while_pooled_is_replaced_before_its_next_use(stack, admin_db):
    # Without the reset query nothing talks to the server on release: the pool still notices a
    # connection that ended (PostgreSQL restarted, a proxy cut it) from its socket, and the next
    # acquirer gets a new one, not an error.
    pool = await open_pool(stack.admin_dsn, min_size=1, max_size=1, session_state=False)
    ended = asyncio.Event()
    try:
        async with pool.acquire() as conn:
            first = await conn.fetchval("SELECT pg_backend_pid()")
            conn.add_termination_listener(lambda _conn: ended.set())
        assert await admin_db.fetchval("SELECT pg_terminate_backend($1)", first)
        await asyncio.wait_for(ended.wait(), 10)  # the socket ended while the connection sat idle
        async with pool.acquire() as conn:
            second = await conn.fetchval("SELECT pg_backend_pid()")
    finally:
        await pool.close()
    assert second != first
