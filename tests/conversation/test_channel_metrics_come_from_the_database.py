"""GetChannelMetrics: per channel conversations, messages, tickets, escalations and rate,
average and p95 response latency, average sentiment — computed by the database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id

# A window of time no other test writes in (they pin clocks before 2040), so the numbers
# below are exactly this test's, even on a shared, non-wiped database.
WINDOW_START = datetime(2090, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(20_000))


async def test_metrics_per_channel_match_what_was_recorded(conversation, clock):
    clock.pin(WINDOW_START + timedelta(hours=1))

    async def ask(customer, channel, text, latency_ms=0):
        clock.advance(minutes=5)
        got = await conversation.RecordInbound(inbound(customer, channel, text))
        if latency_ms:
            clock.advance(seconds=latency_ms / 1000)
            await conversation.RecordOutbound(outbound(got.ticket_id, latency_ms=latency_ms))
        return got

    # Each channel gets its own, non-zero average sentiment, latencies and escalation rate, so
    # mixing channels up (or averaging over all of them) cannot go unnoticed.
    a, b, c, d = new_id(), new_id(), new_id(), new_id()
    await ask(a, CHANNEL_EMAIL, "Thanks, great help!", 1000)                        # +1
    angry = await ask(a, CHANNEL_EMAIL, "This is terrible", 3000)                    # -1
    await conversation.Escalate(pb.EscalateRequest(ticket_id=angry.ticket_id, reason=pb.ESCALATION_REASON_ANGER))
    await ask(a, CHANNEL_EMAIL, "Works now, thank you", 2000)                        # +1
    for text, latency in (("I love it", 100), ("the sync is slow", 200), ("a question", 300)):  # +1, -1, 0
        await ask(b, CHANNEL_WHATSAPP, text, latency)
    awful = await ask(c, CHANNEL_WHATSAPP, "awful, just awful")                      # -1
    for reason in (pb.ESCALATION_REASON_ANGER, pb.ESCALATION_REASON_HUMAN_REQUEST):  # one ticket
        await conversation.Escalate(pb.EscalateRequest(ticket_id=awful.ticket_id, reason=reason))
    broken = await ask(d, CHANNEL_WEB_FORM, "The export is broken", 400)             # -1
    await conversation.Escalate(pb.EscalateRequest(ticket_id=broken.ticket_id, reason=pb.ESCALATION_REASON_SEARCH_FAILED))
    await ask(d, CHANNEL_WEB_FORM, "It is still not working", 600)                   # -1 (negated)

    since = Timestamp()
    since.FromDatetime(WINDOW_START)
    reply = await conversation.GetChannelMetrics(pb.GetChannelMetricsRequest(since_time=since))
    got = {m.channel: m for m in reply.channels}
    assert list(got) == [CHANNEL_EMAIL, CHANNEL_WHATSAPP, CHANNEL_WEB_FORM]

    email, whatsapp, form = got[CHANNEL_EMAIL], got[CHANNEL_WHATSAPP], got[CHANNEL_WEB_FORM]
    assert (email.conversations, email.messages, email.tickets, email.escalations) == (1, 6, 3, 1)
    assert email.escalation_rate == pytest.approx(1 / 3)
    assert email.avg_response_latency_ms == 2000
    assert email.p95_response_latency_ms == pytest.approx(2900)  # percentile_cont over 1000, 2000, 3000
    assert email.avg_sentiment == pytest.approx(1 / 3)

    assert (whatsapp.conversations, whatsapp.messages, whatsapp.tickets, whatsapp.escalations) == (2, 7, 4, 1)
    assert whatsapp.escalation_rate == 0.25
    assert whatsapp.avg_response_latency_ms == 200
    assert whatsapp.p95_response_latency_ms == pytest.approx(290)  # over 100, 200, 300
    assert whatsapp.avg_sentiment == pytest.approx(-0.25)

    assert (form.conversations, form.messages, form.tickets, form.escalations) == (1, 4, 2, 1)
    assert form.escalation_rate == 0.5
    assert form.avg_response_latency_ms == 500
    assert form.p95_response_latency_ms == pytest.approx(590)  # over 400, 600
    assert form.avg_sentiment == -1

    everything = await conversation.GetChannelMetrics(pb.GetChannelMetricsRequest())
    assert {m.channel: m.messages for m in everything.channels}[CHANNEL_WHATSAPP] >= 7


async def test_sentiment_is_estimated_per_inbound_message(conversation):
    customer = new_id()
    for text in ("Thank you, this is great", "The app is broken and useless", "not good"):
        await conversation.RecordInbound(inbound(customer, CHANNEL_WEB_FORM, text))
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [m.sentiment for m in history.messages] == [1.0, -1.0, -1.0]
