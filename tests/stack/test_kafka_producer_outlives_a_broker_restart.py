"""A process's Kafka producer outlives a broker restart. Records in flight when the broker went
down leave aiokafka's idempotent producer and the broker disagreeing on sequence numbers for
good (OutOfOrderSequenceNumber on every later send: seen in the chaos suite as a worker that
dead-lettered every message after Kafka came back). `new_producer`'s Producer starts a new one
and sends again, so publishing resumes on its own."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack import DEFAULT_DATA_ROOT, kafka
from services.common.kafka import new_producer
from tests.ports import stack_port

KAFKA = kafka.KafkaConfig(data_dir=DEFAULT_DATA_ROOT / "test-producer-restart", port=stack_port(19172),
                          controller_port=stack_port(19173))
TOPIC = "restart.survivors"
SENDERS = 10


@pytest.fixture
async def broker(stack_lock: None) -> AsyncIterator[kafka.KafkaConfig]:
    kafka.stop(KAFKA)
    shutil.rmtree(KAFKA.data_dir, ignore_errors=True)
    await kafka.start(KAFKA)
    await kafka.ensure_topics(KAFKA.bootstrap_servers, {TOPIC: 3})
    yield KAFKA
    kafka.stop(KAFKA)
    shutil.rmtree(KAFKA.data_dir, ignore_errors=True)


async def _restart_under_load(producer) -> None:
    """Ten senders publishing without pause while the broker stops (records in flight), and
    for a few seconds while it is away; then the broker starts again."""
    stop = asyncio.Event()

    async def sender(i: int) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # the broker is going away: failures expected
                await producer.send_and_wait(TOPIC, b"during", key=f"k{i}".encode())
            await asyncio.sleep(0.01)

    senders = [asyncio.create_task(sender(i)) for i in range(SENDERS)]
    await asyncio.sleep(1)
    await asyncio.to_thread(kafka.stop, KAFKA)
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*senders)
    await kafka.start(KAFKA)


async def _after(producer) -> list[str]:
    """Each sender's next record once the broker is back: what became of it."""
    async def one(i: int) -> str:
        try:
            await asyncio.wait_for(producer.send_and_wait(TOPIC, f"after-{i}".encode(), key=f"k{i}".encode()), 20)
            return "ok"
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test compares
            return type(exc).__name__
    return list(await asyncio.gather(*(one(i) for i in range(SENDERS))))


async def _values_on_topic() -> set[bytes]:
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=KAFKA.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000, max_records=10_000)
        return {r.value for records in batches.values() for r in records}
    finally:
        await consumer.stop()


async def test_publishing_resumes_after_the_broker_restarts_with_records_in_flight(broker):
    producer = new_producer(KAFKA.bootstrap_servers, "restart-test", request_timeout_ms=2000)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"before", key=b"k0")
        await _restart_under_load(producer)
        assert await _after(producer) == ["ok"] * SENDERS
        assert producer.renewals == 1  # the broken producer was replaced once, not per send
    finally:
        await producer.stop()
    assert {f"after-{i}".encode() for i in range(SENDERS)} <= await _values_on_topic()


async def test_a_bare_aiokafka_producer_stays_broken(broker):
    """Why Producer exists: the same restart leaves aiokafka's own producer failing every send."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA.bootstrap_servers, acks="all",
                                enable_idempotence=True, linger_ms=2, request_timeout_ms=2000)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"before", key=b"k0")
        await _restart_under_load(producer)
        outcomes = await _after(producer)
        assert "ok" not in outcomes, outcomes
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)
