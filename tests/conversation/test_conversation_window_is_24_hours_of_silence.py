"""One active conversation per customer, any channel; after 24 h of silence the next message
starts a new one. Time is the service's injected clock (or the message's receive_time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fte.common.v1.channel_pb2 import CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id

T0 = datetime(2031, 3, 14, 9, 0, tzinfo=UTC)


async def test_a_message_within_24_hours_joins_and_one_after_starts_a_new_conversation(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    first = await conversation.RecordInbound(inbound(customer))
    clock.advance(hours=23, minutes=59)
    same = await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP))
    assert same.conversation_id == first.conversation_id and not same.new_conversation

    clock.advance(hours=24)  # 24 h after the last message, not the first
    fresh = await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP))
    assert fresh.new_conversation and fresh.conversation_id != first.conversation_id
    assert not fresh.HasField("channel_switch")

    listed = await conversation.ListConversations(pb.ListConversationsRequest(customer_id=customer))
    assert [c.conversation_id for c in listed.conversations] == [fresh.conversation_id, first.conversation_id]
    assert [c.status for c in listed.conversations] == [
        pb.CONVERSATION_STATUS_ACTIVE, pb.CONVERSATION_STATUS_CLOSED]
    assert listed.conversations[0].initial_channel == CHANNEL_WHATSAPP


async def test_exactly_24_hours_of_silence_is_enough(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    first = await conversation.RecordInbound(inbound(customer))
    clock.advance(hours=24)
    assert (await conversation.RecordInbound(inbound(customer))).conversation_id != first.conversation_id


async def test_our_reply_counts_as_activity_in_the_window(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    first = await conversation.RecordInbound(inbound(customer))
    clock.advance(hours=20)
    await conversation.RecordOutbound(outbound(first.ticket_id))
    clock.advance(hours=20)  # 40 h after the customer, 20 h after our reply
    again = await conversation.RecordInbound(inbound(customer))
    assert again.conversation_id == first.conversation_id


async def test_a_silent_conversation_reads_as_closed_before_the_next_message(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    first = await conversation.RecordInbound(inbound(customer))
    clock.advance(hours=25)
    got = await conversation.GetConversation(pb.GetConversationRequest(conversation_id=first.conversation_id))
    assert got.conversation.status == pb.CONVERSATION_STATUS_CLOSED


async def test_receive_time_places_the_message_and_the_window(conversation, clock):
    customer = new_id()
    clock.pin(T0 + timedelta(days=3))
    at = lambda d: Timestamp(seconds=int((T0 + d).timestamp()))  # noqa: E731
    first = await conversation.RecordInbound(inbound(customer, receive_time=at(timedelta(0))))
    late = await conversation.RecordInbound(inbound(customer, receive_time=at(timedelta(hours=30))))
    assert late.new_conversation and late.conversation_id != first.conversation_id
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [m.create_time.ToDatetime(tzinfo=UTC) for m in history.messages] == [T0, T0 + timedelta(hours=30)]
    # A sender's clock ahead of ours cannot place a message in our future.
    ahead = await conversation.RecordInbound(inbound(customer, receive_time=at(timedelta(days=9))))
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=ahead.ticket_id))
    assert got.messages[0].create_time.ToDatetime(tzinfo=UTC) == clock()
