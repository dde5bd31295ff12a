"""A WhatsApp message that reaches the edge while it cannot reach Kafka is kept in the edge's
outbox, Twilio hears 200 (and never sends it again), and the pipeline answers it exactly once
when the edge reaches Kafka again.

The session's broker is the whole pipeline's, so it stays up: the edge alone is restarted with
KAFKA_BOOTSTRAP_SERVERS at a port where nothing listens, then restarted with the real broker.
The relay that publishes the kept message is the one a running edge uses once its producer
reconnects (tests/edge/test_kafka_down_keeps_messages_in_the_outbox_in_order.py shows that
with a broker stopped and started under a running edge)."""

from __future__ import annotations

import signal

import httpx
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.e2e.channel_loop import (
    callback_query,
    history,
    inbound,
    new_phone,
    post_whatsapp,
    twilio_sent_to,
    whatsapp_answer,
)
from tests.ports import free_port

QUESTION = "How do I reset my password? The link never seems to come."
FENCE = "Which browsers does Flowboard support?"


async def _outbox(edge_url: str) -> dict:
    async with httpx.AsyncClient(base_url=edge_url, timeout=30) as http:
        return (await http.get("/health")).json()["outbox"]


async def test_message_kept_while_kafka_is_unreachable_is_answered_once(
    pipeline, channel_fakes, identity, conversation
):
    phone = new_phone()
    await pipeline.kill("edge", signal.SIGTERM)
    try:
        await pipeline.start("edge", env={"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
        accepted = await post_whatsapp(channel_fakes, phone, QUESTION)
        assert accepted.status_code == 200, accepted.text
        assert accepted.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
        kept = await _outbox(pipeline.edge_url)
        assert (kept["state"], kept["depth"]) == ("ok", 1), kept
        assert await history(identity, conversation, phone=phone) == [], "it reached the pipeline without Kafka"
    finally:
        await pipeline.kill("edge", signal.SIGTERM)
        await pipeline.start("edge")

    answer = await whatsapp_answer(channel_fakes, phone)
    # A later message from the same number lands on the same partition behind anything the
    # relay sent: once it is answered, no second copy of the first can still be on its way.
    assert (await post_whatsapp(channel_fakes, phone, FENCE)).status_code == 200
    await whatsapp_answer(channel_fakes, phone, after=len(answer))

    assert (await _outbox(pipeline.edge_url))["depth"] == 0
    reply_ids = [callback_query(m)["reply_id"] for m in twilio_sent_to(channel_fakes, phone)]
    assert len(set(reply_ids)) == 2, "one answer to the kept message, one to the next"
    messages = await history(identity, conversation, phone=phone)
    assert [m.content for m in inbound(messages)] == [QUESTION, FENCE]
    assert len([m for m in messages if m.direction == conv_pb.MESSAGE_DIRECTION_OUTBOUND]) == 2
