"""A service's pool (services/common/db.py) traces every statement a handler runs, not the
reset asyncpg runs when a connection goes back to the pool; the reset itself still happens."""

from __future__ import annotations

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
