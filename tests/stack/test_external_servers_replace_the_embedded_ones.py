"""DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, RATE_LIMIT_STORAGE_URI and OTEL_EXPORTER_OTLP_ENDPOINT point the same
code at existing servers: migrations and topics go there, spans are sent there, no embedded server is started, and
stopping the stack leaves them alone."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack import jaeger, kafka, postgres, redis
from devstack.stack import Endpoints, StackConfig, down, embedded_running, up


async def test_external_postgres_kafka_and_redis_are_used_and_never_started_or_stopped(
    stack: Endpoints, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", stack.admin_dsn)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap_servers)
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URI", stack.rate_limit_storage_uri)
    collector = "http://127.0.0.1:4317"  # anyone's collector: the stack only passes it on
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("FTE_DATA_DIR", str(tmp_path))
    cfg = StackConfig.from_env()

    endpoints = await up(cfg)

    assert endpoints == Endpoints(stack.admin_dsn, stack.bootstrap_servers, stack.rate_limit_storage_uri,
                                  otlp_endpoint=collector)
    assert embedded_running(cfg) == set()
    assert postgres.running_pid(cfg.postgres) is None and kafka.running_pid(cfg.kafka) is None
    assert redis.running_pid(cfg.redis) is None and jaeger.running_pid(cfg.jaeger) is None
    assert not any(tmp_path.iterdir()), "nothing embedded may be initialised"

    down(cfg)  # must not touch the external servers
    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM public.schema_migrations")
        assert applied >= 3
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await admin.start()
    try:
        assert set(kafka.topic_partitions()) <= set(await admin.list_topics())
    finally:
        await admin.close()
