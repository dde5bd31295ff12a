"""Shared fixtures. `stack` boots PostgreSQL + Kafka once per session for the tests that ask.

The test stack has its own data dir and ports, so tests can run while `make run` is up.
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, if set, are used instead of the embedded servers.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest

from devstack import DEFAULT_DATA_ROOT, kafka, postgres, stack as devstack

TEST_DATA_ROOT = DEFAULT_DATA_ROOT / "test-stack"
# Two checkouts (e.g. git worktrees) can test side by side when one sets FTE_TEST_PORT_OFFSET.
PORT_OFFSET = int(os.environ.get("FTE_TEST_PORT_OFFSET", "0"))
TEST_STACK = devstack.StackConfig(
    postgres=postgres.PostgresConfig(data_dir=TEST_DATA_ROOT / "postgres", port=55442 + PORT_OFFSET),
    kafka=kafka.KafkaConfig(data_dir=TEST_DATA_ROOT / "kafka", port=59102 + PORT_OFFSET,
                            controller_port=59103 + PORT_OFFSET),
    external_database_url=os.environ.get("DATABASE_URL") or None,
    external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
)


@pytest.fixture(scope="session")
def stack_lock() -> Iterator[None]:
    """Serialises test sessions of this checkout: they share the test stack's ports and data
    dir, and each session wipes and stops it. The lock dies with its process, so a crashed
    session never blocks the next one."""
    DEFAULT_DATA_ROOT.mkdir(exist_ok=True)
    with open(DEFAULT_DATA_ROOT / "test-stack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
async def stack(stack_lock: None) -> AsyncIterator[devstack.Endpoints]:
    # Whatever a crashed earlier session left behind is stopped and wiped: tests start clean.
    devstack.down(TEST_STACK)
    shutil.rmtree(TEST_DATA_ROOT, ignore_errors=True)
    endpoints = await devstack.up(TEST_STACK)
    yield endpoints
    devstack.down(TEST_STACK)
    assert not devstack.embedded_running(TEST_STACK), "test stack left running"
