"""GetHistory: a customer's last messages across all channels and conversations, oldest first,
each with channel, direction, role and time; 20 unless asked otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id, rpc_error

T0 = datetime(2033, 1, 10, 12, 0, tzinfo=UTC)
CHANNELS = (CHANNEL_EMAIL, CHANNEL_WHATSAPP, CHANNEL_WEB_FORM)


async def test_history_interleaves_three_channels_and_two_conversations_in_time_order(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    expected = []
    for day in range(2):  # two conversations: a day and a half apart
        for i, channel in enumerate(CHANNELS):
            clock.advance(minutes=7)
            got = await conversation.RecordInbound(inbound(customer, channel, f"d{day} q{i}"))
            expected.append((f"d{day} q{i}", channel, pb.MESSAGE_DIRECTION_INBOUND, pb.MESSAGE_ROLE_CUSTOMER, clock()))
            clock.advance(minutes=1)
            await conversation.RecordOutbound(outbound(got.ticket_id, f"d{day} a{i}", latency_ms=900))
            expected.append((f"d{day} a{i}", channel, pb.MESSAGE_DIRECTION_OUTBOUND, pb.MESSAGE_ROLE_AGENT, clock()))
        clock.advance(hours=36)

    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [
        (m.content, m.channel, m.direction, m.role, m.create_time.ToDatetime(tzinfo=UTC))
        for m in history.messages
    ] == expected
    assert len({m.conversation_id for m in history.messages}) == 2


async def test_history_returns_the_last_twenty_by_default_and_honours_limit(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    for n in range(25):
        clock.advance(minutes=1)
        await conversation.RecordInbound(inbound(customer, CHANNELS[n % 3], f"m{n:02d}"))
    default = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [m.content for m in default.messages] == [f"m{n:02d}" for n in range(5, 25)]
    three = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer, limit=3))
    assert [m.content for m in three.messages] == ["m22", "m23", "m24"]


async def test_messages_with_the_same_time_keep_their_arrival_order(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    for n in range(4):
        await conversation.RecordInbound(inbound(customer, CHANNELS[n % 3], f"same-{n}"))
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [m.content for m in history.messages] == [f"same-{n}" for n in range(4)]


async def test_history_of_a_customer_without_messages_is_empty_and_bad_limits_are_refused(conversation):
    empty = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=new_id()))
    assert list(empty.messages) == []
    for limit in (-1, 201):
        err = await rpc_error(conversation.GetHistory(pb.GetHistoryRequest(customer_id=new_id(), limit=limit)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "limit" in err.details()
