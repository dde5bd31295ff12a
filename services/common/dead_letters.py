"""Parking records the channels cannot handle in fte.dlq, as fte.events.v1.DeadLetter.

A record is only committed after its dead letter is in Kafka: publishing is retried until the
broker takes it (or, with `give_up_after_s`, raises after that long, so the caller leaves the
record uncommitted to be read again), so a record that could not be handled is parked, never
dropped. The inbound worker and the outbound dispatcher both park their failures here.
"""

from __future__ import annotations

import logging

import grpc
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fte.events.v1 import events_pb2

from services.common import topics
from services.common.kafka import publish
from services.common.metrics import DEAD_LETTERS
from services.common.retry import RetryPolicy

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """What people reading the DLQ need: the gRPC status and details, or the exception."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, topic: str = topics.DLQ) -> None:
        self.producer = producer
        self.topic = topic

    async def park(
        self,
        record: ConsumerRecord | None,
        *,
        stage: str,
        error: str,
        attempts: int,
        idempotency_key: str = "",
        key: bytes | None = None,
        give_up_after_s: float | None = None,
    ) -> events_pb2.DeadLetter:
        letter = events_pb2.DeadLetter(
            original_topic=record.topic if record else "",
            partition=record.partition if record else 0,
            offset=record.offset if record else 0,
            key=(record.key if record else key) or b"",
            payload=(record.value if record else b"") or b"",
            error=error[:2000],
            attempts=attempts,
            stage=stage,
            idempotency_key=idempotency_key,
        )
        letter.fail_time.GetCurrentTime()
        kafka_key = letter.key.decode(errors="replace")
        retry = RetryPolicy(initial_s=0.5, max_s=10, give_up_after_s=give_up_after_s)
        await retry.call(publish, self.producer, self.topic, kafka_key, letter)
        # source: the topic the record was read from (the stage, for a message with no record).
        DEAD_LETTERS.labels(self.topic, letter.original_topic or stage).inc()
        where = f"{letter.original_topic}@{letter.partition}:{letter.offset}" if record else "-"
        log.error("dead-lettered %s (%s, stage %s) after %d attempt(s): %s",
                  idempotency_key or "record", where, stage, attempts, letter.error)
        return letter
