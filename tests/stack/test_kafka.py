"""The embedded (or configured) Kafka broker and the project's topics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devstack import kafka
from devstack.stack import Endpoints


@pytest.fixture
async def admin(stack: Endpoints) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await client.start()
    yield client
    await client.close()


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)
            if t["error_code"] == 0}


async def test_every_configured_topic_exists_with_its_partition_count(admin) -> None:
    configured = kafka.topic_partitions()

    assert set(kafka.DEFAULT_TOPIC_PARTITIONS) <= set(configured)
    assert await _partition_counts(admin, list(configured)) == configured


def test_partition_counts_can_be_overridden_from_the_environment() -> None:
    partitions = kafka.topic_partitions({"FTE_TOPIC_PARTITIONS": '{"fte.dlq": 2, "fte.extra": 4}'})

    assert partitions["fte.dlq"] == 2
    assert partitions["fte.extra"] == 4
    assert partitions["fte.escalations"] == kafka.DEFAULT_TOPIC_PARTITIONS["fte.escalations"]
    with pytest.raises(ValueError, match="FTE_TOPIC_PARTITIONS"):
        kafka.topic_partitions({"FTE_TOPIC_PARTITIONS": '{"fte.dlq": 0}'})


async def test_unknown_topics_are_not_created_on_first_use(admin) -> None:
    typo = f"fte.tickets.incomming.{uuid.uuid4().hex[:6]}"

    assert await _partition_counts(admin, [typo]) == {}
    assert typo not in await admin.list_topics()


async def test_ensure_topics_is_idempotent_and_grows_partitions(stack: Endpoints, admin) -> None:
    topic = f"test.grow.{uuid.uuid4().hex[:8]}"

    await kafka.ensure_topics(stack.bootstrap_servers, {topic: 1})
    await kafka.ensure_topics(stack.bootstrap_servers, {topic: 1})
    assert await _partition_counts(admin, [topic]) == {topic: 1}

    await kafka.ensure_topics(stack.bootstrap_servers, {topic: 3})
    assert await _partition_counts(admin, [topic]) == {topic: 3}


async def test_idempotent_producer_round_trip_preserves_keys_values_headers_and_order(
        stack: Endpoints) -> None:
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    await kafka.ensure_topics(stack.bootstrap_servers, {topic: 1})
    sent = [(b"customer-1", f"message {i}".encode(), [("traceparent", f"00-{i:032x}-01".encode())])
            for i in range(5)]

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        offsets = [(await producer.send_and_wait(topic, value, key=key, headers=headers)).offset
                   for key, value, headers in sent]
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.bootstrap_servers,
                                group_id=f"test-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        received = []
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records within 10 s"
            received += [r for records in batch.values() for r in records]
    finally:
        await consumer.stop()

    assert offsets == [0, 1, 2, 3, 4]
    assert [(r.key, r.value, list(r.headers)) for r in received] == sent


def test_configured_topics_are_exactly_the_topics_the_services_use() -> None:
    from fte.common.v1 import channel_pb2
    from services.common import channels as channel_names
    from services.common import topics

    channels = channel_names.VALUES
    used = {topics.INCOMING, topics.ESCALATIONS, topics.ESCALATIONS_DLQ, topics.DLQ,
            topics.inbound_topic(channel_pb2.CHANNEL_EMAIL)}
    used |= {topics.outbound_topic(ch) for ch in channels}

    assert set(kafka.DEFAULT_TOPIC_PARTITIONS) == used
