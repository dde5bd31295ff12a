"""A topic of its own on the test stack's real Kafka, records put on chosen partitions, the
shared consume loop run in a task, and what its group committed, read back from the broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from devstack import kafka as devkafka
from services.common.consumer import consume
from services.common.kafka import new_producer
from tests import polling


@dataclass
class Topic:
    bootstrap: str
    name: str
    partitions: int
    producer: object
    handled: list[tuple[int, int, str]] = field(default_factory=list)  # (partition, offset, value)

    async def put(self, partition: int, *values: str, key: str | None = None) -> None:
        for value in values:
            await self.producer.send_and_wait(self.name, value=value.encode(), partition=partition,
                                              key=key.encode() if key is not None else None)

    def note(self, record: ConsumerRecord) -> str:
        value = record.value.decode()
        self.handled.append((record.partition, record.offset, value))
        return value

    def values(self, partition: int | None = None) -> list[str]:
        return [v for p, _, v in self.handled if partition is None or p == partition]

    async def committed(self, group: str) -> dict[int, tuple[int, str]]:
        """partition → (committed offset, metadata) of `group` on this topic."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: (m.offset, m.metadata) for tp, m in offsets.items() if tp.topic == self.name}

    async def read_all(self) -> list[ConsumerRecord]:
        reader = AIOKafkaConsumer(self.name, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest")
        await reader.start()
        try:
            found: list[ConsumerRecord] = []
            for _ in range(20):
                for records in (await reader.getmany(timeout_ms=200)).values():
                    found.extend(records)
            return found
        finally:
            await reader.stop()


@contextlib.asynccontextmanager
async def topic(bootstrap: str, partitions: int = 1) -> AsyncIterator[Topic]:
    name = f"test.{uuid.uuid4().hex[:8]}.loop"
    await devkafka.ensure_topics(bootstrap, {name: partitions})
    producer = new_producer(bootstrap, f"test-{name}")
    await producer.start()
    try:
        yield Topic(bootstrap, name, partitions, producer)
    finally:
        await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([name])
        finally:
            await admin.close()


class Running:
    """`consume` in a task, stopped as SIGTERM would stop it."""

    def __init__(self, t: Topic, handle, **options) -> None:
        self.group = options.pop("group", None) or f"test-loop-{uuid.uuid4().hex[:8]}"
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            consume(t.bootstrap, self.group, [t.name], handle, self.stop,
                    **{"grace_s": 5.0, "drain_s": 10.0, **options})
        )

    async def until(self, probe, what: str, timeout: float = 60) -> None:
        async def check():
            if self.task.done():
                self.task.result()  # surface a crash of the loop
            found = probe()
            return (await found) if asyncio.iscoroutine(found) else found

        await polling.until(check, what, timeout, every=0.05)

    async def finish(self, timeout: float = 30) -> float:
        """Sets stop; returns how long the loop took to return."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.stop.set()
        await asyncio.wait_for(self.task, timeout)
        return loop.time() - started
