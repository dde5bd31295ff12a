"""When a step keeps failing (the agent is down), the worker retries with backoff, then parks
the event in fte.dlq with the error, apologises on the customer's channel and escalates the
ticket with reason processing_error. Nothing is dropped; later messages flow again."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from fte.events.v1 import events_pb2

from devstack import kafka
from services.agent.worker import APOLOGY
from services.common import topics
from tests.e2e.conftest import wait_for_reply


async def _dead_letters(bootstrap: str) -> list[events_pb2.DeadLetter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.DLQ, p) for p in range(kafka.topic_partitions()[topics.DLQ])]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        batch = await consumer.getmany(*parts, timeout_ms=3000)
        return [events_pb2.DeadLetter.FromString(r.value) for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()


async def test_agent_outage_dead_letters_apologises_and_escalates(http, pipeline, stack):
    await pipeline.kill("agent")
    try:
        submitted = await http.post(
            "/support/submit",
            json={"name": "Unlucky Customer", "email": f"unlucky-{uuid.uuid4().hex[:8]}@example.com",
                  "subject": "Export question", "category": "general",
                  "message": "How do I export my workspace data to CSV?"},
        )
        ticket_id = submitted.json()["ticket_id"]
        view = await wait_for_reply(http, ticket_id)
    finally:
        await pipeline.start("agent")

    assert view["status"] == "escalated"
    assert [m["content"] for m in view["messages"] if m["role"] == "system"] == [APOLOGY]
    letters = [d for d in await _dead_letters(stack.bootstrap_servers) if d.idempotency_key == f"web:{ticket_id}"]
    assert len(letters) == 1
    assert letters[0].stage == "respond" and "UNAVAILABLE" in letters[0].error
    assert events_pb2.InboundMessage.FromString(letters[0].payload).ticket_id == ticket_id

    # The agent is back: the next message is answered normally.
    again = await http.post(
        "/support/submit",
        json={"name": "Next Customer", "email": f"next-{uuid.uuid4().hex[:8]}@example.com",
              "subject": "Password question", "category": "technical",
              "message": "How do I reset my password? I forgot it."},
    )
    assert (await wait_for_reply(http, again.json()["ticket_id"]))["status"] == "answered"
