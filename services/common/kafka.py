"""Kafka with trace propagation.

Producers: acks=all and idempotence on, a `"<topic> publish"` PRODUCER span per record with
its context injected into the record headers. Consumers: `"<topic> process"` CONSUMER spans
whose parent is the context extracted from the headers, so one trace spans every hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId
from aiokafka.structs import RecordMetadata
from google.protobuf.message import Message
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("fte.kafka")

Headers = list[tuple[str, bytes]]


def new_producer(
    bootstrap_servers: str, client_id: str, request_timeout_ms: int = 15000
) -> Producer:
    """A producer that only reports success once every in-sync replica has the record.

    `request_timeout_ms` bounds each request, and a record still waiting for a partition
    leader past it fails. It does not withdraw a record already sent: with idempotence the
    producer retries that until the broker takes it, so a send its caller saw fail may still
    land later (callers retry with the same idempotency key, which makes the copy harmless)."""
    return Producer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        # A record goes out at once: records that arrive while the partition's request is in
        # flight still share the next one, so under load batches form as before, and a lone
        # record (a quiet hour) is not held back. 2 ms of linger cost a submit 2.5 ms of its
        # latency and the edge ~0.2 ms of CPU at one request at a time (tests/bench/README.md).
        linger_ms=0,
        request_timeout_ms=request_timeout_ms,
    )


# Errors after which an idempotent aiokafka producer never sends again: its sender task ends and
# every later record waits until it times out. Seen here when the broker restarts while records
# are in flight (`tests/stack/test_kafka_producer_outlives_a_broker_restart.py`): the broker and
# the producer then disagree on the sequence numbers for good. The Java client bumps its epoch;
# aiokafka cannot, so `Producer` starts a new one (a new producer id, sequences from 0).
_FATAL = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)


class Producer:
    """`new_producer`'s producer: an AIOKafkaProducer (every attribute is its) that replaces
    that AIOKafkaProducer when it can no longer send (`_FATAL`), so a process outlives a broker
    restart instead of failing every publish until someone restarts it. The send that met the
    error is made once more on the new one: the broker refused it, so it was not written."""

    def __init__(self, **config: Any) -> None:
        self._config = config
        self._producer = AIOKafkaProducer(**config)
        self._lock = asyncio.Lock()
        self.renewals = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                            **kwargs: Any) -> RecordMetadata:
        producer = self._producer
        failed = _fatal_error(producer)
        if failed is None:
            try:
                return await producer.send_and_wait(topic, value=value, key=key, **kwargs)
            except _FATAL as exc:
                failed = exc
        await self._renew(producer, failed)
        return await self._producer.send_and_wait(topic, value=value, key=key, **kwargs)

    async def _renew(self, broken: AIOKafkaProducer, error: BaseException) -> None:
        async with self._lock:
            if self._producer is not broken:
                return  # another send renewed it meanwhile
            log.warning("kafka producer %s cannot send any more (%s): starting a new one",
                        self._config.get("client_id"), type(error).__name__)
            fresh = AIOKafkaProducer(**self._config)
            try:
                await fresh.start()
            except BaseException:
                await fresh.stop()
                raise  # Kafka away: the caller's retry comes back here
            self._producer = fresh
            self.renewals += 1
        try:
            # Its records were failed when its sender ended: nothing is left to flush.
            await asyncio.wait_for(broken.stop(), 5)
        except Exception:  # noqa: BLE001 - a broken producer's cleanup must not fail a send
            log.warning("the broken kafka producer did not stop cleanly", exc_info=True)


def _fatal_error(producer: AIOKafkaProducer) -> BaseException | None:
    """The `_FATAL` error that ended this producer's sender task, if one did."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is None or not task.done() or task.cancelled():
        return None
    error = task.exception()
    return error if isinstance(error, _FATAL) else None


class LazyProducer:
    """A `new_producer` started on first use and stopped by `close`: for a process that
    publishes rarely (identity's link codes, people's replies from the conversation process), so
    it starts and serves without Kafka and connects only when it has something to send."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._producer: Producer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Producer:
        async with self._lock:
            if self._producer is None:
                producer = new_producer(self._bootstrap, self._client_id)
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class _HeaderSetter:
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier.append((key, value.encode()))


class _HeaderGetter:
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [v.decode() for k, v in carrier if k == key and v is not None]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [k for k, _ in carrier]


async def publish(
    producer: Producer | AIOKafkaProducer,
    topic: str,
    key: str,
    message: Message,
    headers: Headers | None = None,
) -> tuple[int, int]:
    """Sends one protobuf record and waits for the broker's ack. Returns (partition, offset)."""
    return await send_record(producer, topic, key, message.SerializeToString(), headers)


async def send_record(
    producer: Producer | AIOKafkaProducer, topic: str, key: str, value: bytes, headers: Headers | None = None
) -> tuple[int, int]:
    """`publish` for a record already serialised, e.g. one kept while Kafka was away (the edge's
    outbox). A trace context in `headers` (kept from the request that accepted the record) is
    the publish span's parent, so the record stays in the trace it was received in."""
    carrier: Headers = list(headers or [])
    trace_fields = propagate.get_global_textmap().fields
    kept = any(k in trace_fields for k, _ in carrier)
    parent = propagate.extract(carrier, getter=_HeaderGetter()) if kept else None
    with _tracer.start_as_current_span(f"{topic} publish", context=parent, kind=SpanKind.PRODUCER) as span:
        span.set_attribute("messaging.system", "kafka")
        span.set_attribute("messaging.destination.name", topic)
        span.set_attribute("messaging.operation.type", "publish")
        # The kept context is replaced by this span's, so consumers continue from the publish.
        carrier = [(k, v) for k, v in carrier if k not in trace_fields]
        propagate.inject(carrier, setter=_HeaderSetter())
        meta = await producer.send_and_wait(topic, value=value, key=key.encode(), headers=carrier)
        span.set_attribute("messaging.destination.partition.id", str(meta.partition))
        span.set_attribute("messaging.kafka.offset", meta.offset)
        return meta.partition, meta.offset


def trace_headers() -> Headers:
    """The current trace context as Kafka headers, for a record sent later (`send_record`)."""
    carrier: Headers = []
    propagate.inject(carrier, setter=_HeaderSetter())
    return carrier


@contextlib.contextmanager
def processing(record: ConsumerRecord, consumer_group: str = "") -> Iterator[trace.Span]:
    """A `"<topic> process"` span continuing the trace carried in the record's headers."""
    parent = propagate.extract(list(record.headers or []), getter=_HeaderGetter())
    with _tracer.start_as_current_span(
        f"{record.topic} process", context=parent, kind=SpanKind.CONSUMER
    ) as span:
        span.set_attribute("messaging.system", "kafka")
        span.set_attribute("messaging.destination.name", record.topic)
        span.set_attribute("messaging.operation.type", "process")
        span.set_attribute("messaging.destination.partition.id", str(record.partition))
        span.set_attribute("messaging.kafka.offset", record.offset)
        if consumer_group:
            span.set_attribute("messaging.consumer.group.name", consumer_group)
        yield span
