"""A record published through the shared Kafka helpers carries its trace context in the
headers; the consumer's "<topic> process" span continues that trace on the other side."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from fte.events.v1 import events_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devstack.kafka import ensure_topics
from services.common.kafka import new_producer, processing, publish, send_record, trace_headers
from services.common.telemetry import setup_tracing

# A topic of its own: no service reads it, so a test record confuses nobody.
TOPIC = "fte.test.trace-propagation"


async def test_consumed_record_continues_the_producers_trace(stack):
    provider = setup_tracing("kafka-test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    await ensure_topics(stack.bootstrap_servers, {TOPIC: 1})
    key = f"customer-{uuid.uuid4()}"
    event = events_pb2.InboundMessage(idempotency_key=key, content="hello")

    producer = new_producer(stack.bootstrap_servers, "trace-test")
    await producer.start()
    try:
        with trace.get_tracer("test").start_as_current_span("edge request") as root:
            partition, offset = await publish(producer, TOPIC, key, event)
    finally:
        await producer.stop()

    record = await _read_one(stack.bootstrap_servers, partition, offset)

    assert record.key.decode() == key
    assert events_pb2.InboundMessage.FromString(record.value).idempotency_key == key
    assert any(k == "traceparent" for k, _ in record.headers)
    with processing(record, "test-group") as consumer_span:
        consumer_ctx = consumer_span.get_span_context()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    publish_span = spans[f"{TOPIC} publish"]
    process_span = spans[f"{TOPIC} process"]
    assert publish_span.kind == SpanKind.PRODUCER and process_span.kind == SpanKind.CONSUMER
    assert publish_span.parent.span_id == root.get_span_context().span_id
    # Same trace, and the consumer's span is the producer's child.
    assert consumer_ctx.trace_id == root.get_span_context().trace_id
    assert process_span.parent.span_id == publish_span.context.span_id
    assert process_span.attributes["messaging.kafka.offset"] == offset


async def test_record_sent_later_stays_in_the_trace_it_was_received_in(stack):
    """The edge's outbox keeps a message's trace context (`trace_headers`) and its relay sends it
    later, outside that request (`send_record`): the publish span is still the request's child,
    and the record carries that span's context, once."""
    provider = setup_tracing("kafka-test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    await ensure_topics(stack.bootstrap_servers, {TOPIC: 1})
    key = f"customer-{uuid.uuid4()}"
    with trace.get_tracer("test").start_as_current_span("edge request") as root:
        kept = trace_headers()
    value = events_pb2.InboundMessage(idempotency_key=key, content="kept").SerializeToString()

    producer = new_producer(stack.bootstrap_servers, "trace-test")
    await producer.start()
    try:
        with trace.get_tracer("test").start_as_current_span("relay pass"):
            partition, offset = await send_record(producer, TOPIC, key, value, [("kind", b"x"), *kept])
    finally:
        await producer.stop()

    record = await _read_one(stack.bootstrap_servers, partition, offset)

    publish_span = next(s for s in exporter.get_finished_spans() if s.name == f"{TOPIC} publish"
                        and s.context.trace_id == root.get_span_context().trace_id)
    assert publish_span.parent.span_id == root.get_span_context().span_id
    traceparents = [v.decode().split("-")[1:3] for k, v in record.headers if k == "traceparent"]
    assert traceparents == [[f"{publish_span.context.trace_id:032x}", f"{publish_span.context.span_id:016x}"]]
    assert ("kind", b"x") in list(record.headers)


async def _read_one(bootstrap_servers: str, partition: int, offset: int):
    """The record at `offset` of TOPIC's `partition`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(TOPIC, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return await consumer.getone()
    finally:
        await consumer.stop()
