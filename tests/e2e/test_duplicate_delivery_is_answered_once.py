"""The same InboundMessage (same idempotency key) delivered twice to fte.tickets.incoming — a
producer retry, a replayed partition — is one ticket, one stored customer message and one
agent reply, delivered once by the dispatcher."""

from __future__ import annotations

import uuid

import asyncpg
from fte.common.v1 import channel_pb2
from fte.events.v1 import events_pb2

from services.common import topics
from services.common.kafka import new_producer, publish
from tests.e2e.probes import committed_offsets, eventually, read_topic, ticket_rows


async def test_same_message_twice_gives_one_ticket_one_message_one_reply(pipeline, stack):
    ticket_id = str(uuid.uuid4())
    email = f"twice-{uuid.uuid4().hex[:8]}@example.com"
    key = f"web:{ticket_id}"
    event = events_pb2.InboundMessage(
        idempotency_key=key,
        channel=channel_pb2.CHANNEL_WEB_FORM,
        sender=events_pb2.Sender(email=email, display_name="Twice Sent"),
        content="How do I export my board to CSV?",
        subject="Exporting a board",
        category="general",
        ticket_id=ticket_id,
    )
    event.receive_time.GetCurrentTime()
    producer = new_producer(stack.bootstrap_servers, "duplicate-test")
    await producer.start()
    try:
        first = await publish(producer, topics.INCOMING, email, event)
        second = await publish(producer, topics.INCOMING, email, event)
    finally:
        await producer.stop()
    assert first[0] == second[0] and second[1] > first[1]
    partition, last = second

    async def both_handled() -> bool:
        committed = await committed_offsets(stack.bootstrap_servers, topics.INCOMING)
        return committed.get(partition, 0) > last

    async def delivered() -> bool:
        rows = (await ticket_rows(stack.admin_dsn, [ticket_id])).get(ticket_id)
        return bool(rows and any(o.delivery_status == "delivered" for o in rows.outbound))

    await eventually(both_handled, 120, "the worker handles and commits both copies")
    await eventually(delivered, 60, "the dispatcher delivers the reply")

    rows = await ticket_rows(stack.admin_dsn, [ticket_id])
    assert rows[ticket_id].inbound == 1
    [reply] = rows[ticket_id].outbound
    assert reply.role == "agent" and reply.delivery_status == "delivered"
    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM conversation.messages WHERE idempotency_key = $1", key
        )
        tickets = await conn.fetchval(
            """SELECT count(*) FROM conversation.tickets
               WHERE customer_id = (SELECT customer_id FROM conversation.tickets WHERE ticket_id = $1)""",
            uuid.UUID(ticket_id),
        )
    finally:
        await conn.close()
    assert stored == 1, "the second copy stored a second customer message"
    assert tickets == 1, "the second copy opened a second ticket"

    # Whatever the worker published for the two copies names the one stored reply.
    outbound = [
        events_pb2.OutboundMessage.FromString(r.value)
        for r in await read_topic(stack.bootstrap_servers, topics.outbound_topic(channel_pb2.CHANNEL_WEB_FORM))
    ]
    ours = [m for m in outbound if m.in_reply_to_key == key]
    assert {m.reply_id for m in ours} == {reply.reply_id}
    # Each says how long the customer waited, from the channel receiving the message.
    assert all(0 < m.latency_ms < 120_000 for m in ours)
