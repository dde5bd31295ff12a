"""The embedded servers start again after a crash left their pid and lock files behind, and
what was committed before the crash (a row, an acknowledged record) is still there."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack import DEFAULT_DATA_ROOT, _proc, kafka, postgres
from devstack.stack import StackConfig, down
from tests.ports import stack_port


CRASH_DATA_ROOT = DEFAULT_DATA_ROOT / "test-crash"
CRASH_STACK = StackConfig(
    postgres=postgres.PostgresConfig(data_dir=CRASH_DATA_ROOT / "postgres", port=stack_port(15472)),
    kafka=kafka.KafkaConfig(data_dir=CRASH_DATA_ROOT / "kafka", port=stack_port(19132),
                            controller_port=stack_port(19133)),
)
TOPIC = "crash.survivors"


async def _commit_a_row_and_a_record() -> None:
    conn = await asyncpg.connect(CRASH_STACK.postgres.admin_dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS crash_survivor; CREATE TABLE crash_survivor (v text)")
        await conn.execute("INSERT INTO crash_survivor VALUES ('kept')")
    finally:
        await conn.close()
    await kafka.ensure_topics(CRASH_STACK.kafka.bootstrap_servers, {TOPIC: 1})
    producer = AIOKafkaProducer(bootstrap_servers=CRASH_STACK.kafka.bootstrap_servers,
                                acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"kept")
    finally:
        await producer.stop()


@pytest.fixture
async def crashed(stack_lock: None) -> AsyncIterator[tuple[int, int]]:
    """Pids of a postmaster and a broker that were killed with SIGKILL."""
    down(CRASH_STACK)
    await asyncio.gather(postgres.start(CRASH_STACK.postgres), kafka.start(CRASH_STACK.kafka))
    await _commit_a_row_and_a_record()
    pids = (postgres.running_pid(CRASH_STACK.postgres), kafka.running_pid(CRASH_STACK.kafka))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    while any(_proc.pid_alive(pid) for pid in pids):
        await asyncio.sleep(0.05)
    yield pids
    down(CRASH_STACK)


async def test_servers_start_again_after_being_killed(crashed: tuple[int, int]) -> None:
    dead_postmaster, dead_broker = crashed
    assert _proc.read_pid(CRASH_STACK.postgres.data_dir / "postmaster.pid") == dead_postmaster
    assert _proc.read_pid(CRASH_STACK.kafka.pid_file) == dead_broker

    assert await postgres.start(CRASH_STACK.postgres) is True
    assert await kafka.start(CRASH_STACK.kafka) is True

    assert postgres.running_pid(CRASH_STACK.postgres) not in (None, dead_postmaster)
    assert kafka.running_pid(CRASH_STACK.kafka) not in (None, dead_broker)
    conn = await asyncpg.connect(CRASH_STACK.postgres.admin_dsn)
    try:
        assert await conn.fetchval("SELECT v FROM crash_survivor") == "kept"
    finally:
        await conn.close()
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=CRASH_STACK.kafka.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert record.value == b"kept"
    finally:
        await consumer.stop()
