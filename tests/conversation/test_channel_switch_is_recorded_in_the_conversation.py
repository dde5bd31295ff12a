"""A customer moving channel inside one conversation is recorded: from, to, when, which message."""

from __future__ import annotations

from datetime import UTC, datetime

from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound
from tests.running_services import new_id

T0 = datetime(2032, 6, 1, 8, 0, tzinfo=UTC)


async def test_email_then_whatsapp_then_web_form_records_two_switches(conversation, clock):
    customer = new_id()
    clock.pin(T0)
    email = await conversation.RecordInbound(inbound(customer, CHANNEL_EMAIL))
    clock.advance(minutes=10)
    same_channel = await conversation.RecordInbound(inbound(customer, CHANNEL_EMAIL))
    assert not same_channel.HasField("channel_switch")

    t_whatsapp = clock.advance(hours=2)
    whatsapp = await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP))
    s = whatsapp.channel_switch
    assert (s.from_channel, s.to_channel, s.message_id) == (CHANNEL_EMAIL, CHANNEL_WHATSAPP, whatsapp.message_id)
    assert s.switch_time.ToDatetime(tzinfo=UTC) == t_whatsapp

    t_form = clock.advance(hours=5)
    form = await conversation.RecordInbound(inbound(customer, CHANNEL_WEB_FORM))
    assert form.conversation_id == email.conversation_id

    got = await conversation.GetConversation(pb.GetConversationRequest(conversation_id=email.conversation_id))
    c = got.conversation
    assert (c.initial_channel, c.current_channel) == (CHANNEL_EMAIL, CHANNEL_WEB_FORM)
    assert [(x.from_channel, x.to_channel, x.switch_time.ToDatetime(tzinfo=UTC)) for x in c.channel_switches] == [
        (CHANNEL_EMAIL, CHANNEL_WHATSAPP, t_whatsapp), (CHANNEL_WHATSAPP, CHANNEL_WEB_FORM, t_form)]
    assert [m.channel for m in got.messages] == [CHANNEL_EMAIL, CHANNEL_EMAIL, CHANNEL_WHATSAPP, CHANNEL_WEB_FORM]

    # A duplicate delivery of the switching message answers the same switch, records no other.
    again = await conversation.RecordInbound(inbound(
        customer, CHANNEL_WHATSAPP, idempotency_key=(await _key_of(conversation, whatsapp))))
    assert again.duplicate and again.channel_switch == whatsapp.channel_switch
    listed = await conversation.ListConversations(pb.ListConversationsRequest(customer_id=customer))
    assert len(listed.conversations[0].channel_switches) == 2


async def _key_of(conversation, reply) -> str:
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))
    return got.messages[0].idempotency_key
