"""A record that can never be handled lands in fte.dlq with its error, and the partition it
came from keeps flowing: the next message behind it is answered."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fte.events.v1 import events_pb2

from devstack import kafka
from services.common import topics
from tests.e2e.conftest import wait_for_reply


async def test_poison_record_is_dead_lettered_and_partition_keeps_flowing(http, stack, pipeline):
    sender = f"poison-{uuid.uuid4().hex[:8]}@example.com"
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    await producer.start()
    try:
        # Same key as the good message after it: same partition, right in front of it.
        poison = await producer.send_and_wait(topics.INCOMING, b"\xff\x00 not a protobuf", key=sender.encode())
    finally:
        await producer.stop()

    submitted = await http.post(
        "/support/submit",
        json={"name": "After Poison", "email": sender, "subject": "Question after poison",
              "category": "general", "message": "Which browsers does Flowboard support?"},
    )
    assert submitted.status_code == 202
    await wait_for_reply(http, submitted.json()["ticket_id"])

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.DLQ, p) for p in range(kafka.topic_partitions()[topics.DLQ])]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        letters = []
        for _ in range(20):
            batch = await consumer.getmany(*parts, timeout_ms=500)
            letters += [events_pb2.DeadLetter.FromString(r.value) for recs in batch.values() for r in recs]
            if any(d.offset == poison.offset and d.partition == poison.partition for d in letters):
                break
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
    ours = [d for d in letters if d.partition == poison.partition and d.offset == poison.offset
            and d.original_topic == topics.INCOMING]
    assert len(ours) == 1
    assert ours[0].payload == b"\xff\x00 not a protobuf"
    assert ours[0].stage == "decode" and ours[0].error
