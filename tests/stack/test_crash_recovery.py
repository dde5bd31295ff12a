"""The embedded servers start again after a crash left their pid and lock files behind."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack import DEFAULT_DATA_ROOT, _proc, kafka, postgres
from devstack.stack import StackConfig, down

CRASH_DATA_ROOT = DEFAULT_DATA_ROOT / "test-crash"
CRASH_STACK = StackConfig(
    postgres=postgres.PostgresConfig(data_dir=CRASH_DATA_ROOT / "postgres", port=55472),
    kafka=kafka.KafkaConfig(data_dir=CRASH_DATA_ROOT / "kafka", port=59132, controller_port=59133),
)


@pytest.fixture
async def crashed(stack_lock: None) -> AsyncIterator[tuple[int, int]]:
    """Pids of a postmaster and a broker that were killed with SIGKILL."""
    down(CRASH_STACK)
    await asyncio.gather(postgres.start(CRASH_STACK.postgres), kafka.start(CRASH_STACK.kafka))
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
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
