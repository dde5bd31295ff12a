"""WhatsApp, the full loop on the running pipeline: Twilio's signed webhook → edge → Kafka →
worker → agent → dispatcher → the twilio library's Messages.create against the fake Twilio →
Twilio's signed status callback → the reply is recorded delivered. Bad signatures and Twilio's
retries never make a second ticket or a second answer."""

from __future__ import annotations

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.e2e.channel_loop import (
    callback_query,
    history,
    inbound,
    new_message_sid,
    new_phone,
    post_status,
    post_whatsapp,
    twilio_sent_to,
    until,
    whatsapp_answer,
)
from tests.e2e.conftest import WHATSAPP_FROM
from tests.fakes.twilio import sign

QUESTION = "How do I reset my password? The link never seems to come."


async def test_signed_whatsapp_message_is_answered_and_marked_delivered(
    channel_fakes, identity, conversation, http
):
    phone = new_phone()

    accepted = await post_whatsapp(channel_fakes, phone, QUESTION)

    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["content-type"].startswith("text/xml")
    assert accepted.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'

    parts = await whatsapp_answer(channel_fakes, phone)
    for message in parts:
        assert message["From"] == WHATSAPP_FROM
        assert message["To"] == f"whatsapp:{phone}"
        assert 0 < len(message["Body"]) <= 300
        assert message["StatusCallback"].startswith(f"{channel_fakes.public_base_url}/webhooks/whatsapp/status?")
    reply_id = callback_query(parts[0])["reply_id"]
    assert reply_id
    # Grounded in the password-reset article.
    assert "Forgot password" in " ".join(m["Body"] for m in parts)

    # Twilio reports every part delivered; the last part's report completes the reply.
    for message in parts:
        reported = await post_status(channel_fakes, message, "delivered")
        assert reported.status_code == 204, reported.text

    messages = await history(identity, conversation, phone=phone)
    [question] = inbound(messages)
    assert question.channel == channel_pb2.CHANNEL_WHATSAPP
    assert question.content == QUESTION
    ticket_id = question.ticket_id

    async def recorded_delivered():
        ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket_id))
        [reply] = [m for m in ticket.messages if m.reply_id == reply_id]
        return reply if reply.delivery_status == conv_pb.DELIVERY_STATUS_DELIVERED else None

    reply = await until(recorded_delivered, f"reply {reply_id} recorded delivered", timeout=30)
    assert reply.direction == conv_pb.MESSAGE_DIRECTION_OUTBOUND
    # The customer-facing ticket page shows the same conversation.
    view = (await http.get(f"/support/ticket/{ticket_id}")).json()
    assert view["status"] == "answered"
    assert [m["channel"] for m in view["messages"]] == ["whatsapp", "whatsapp"]


async def test_badly_signed_webhook_is_refused_and_publishes_nothing(channel_fakes, identity, conversation):
    phone = new_phone()
    forged_body = "Please send me every invoice of the account."

    forged = await post_whatsapp(
        channel_fakes, phone, forged_body, signature=sign("not-the-auth-token", "https://x.example", {})
    )
    unsigned = await post_whatsapp(channel_fakes, phone, forged_body, signature=None)

    assert forged.status_code == 403
    assert unsigned.status_code == 403
    # A genuine message from the same number goes to the same partition, behind anything the
    # refused ones could have published: once it is answered, nothing else can still arrive.
    accepted = await post_whatsapp(channel_fakes, phone, QUESTION)
    assert accepted.status_code == 200
    await whatsapp_answer(channel_fakes, phone)

    messages = await history(identity, conversation, phone=phone)
    assert [m.content for m in inbound(messages)] == [QUESTION]
    tickets = {m.ticket_id for m in messages}
    assert len(tickets) == 1


async def test_twilio_retry_of_the_same_message_gets_one_ticket_and_one_answer(
    channel_fakes, identity, conversation
):
    phone = new_phone()
    sid = new_message_sid()

    first = await post_whatsapp(channel_fakes, phone, QUESTION, sid=sid)
    retry = await post_whatsapp(channel_fakes, phone, QUESTION, sid=sid)
    assert (first.status_code, retry.status_code) == (200, 200)
    answer = await whatsapp_answer(channel_fakes, phone)

    # A later message from the same number is handled after the retry (same partition): when
    # it is answered, the retry has been handled too.
    fence = "Which browsers does Flowboard support?"
    assert (await post_whatsapp(channel_fakes, phone, fence)).status_code == 200
    await whatsapp_answer(channel_fakes, phone, after=len(answer))

    sent = twilio_sent_to(channel_fakes, phone)
    reply_ids = [callback_query(m)["reply_id"] for m in sent]
    assert len(set(reply_ids)) == 2, "one answer to the retried message, one to the next"
    assert len(sent) == len(answer) + len([r for r in reply_ids if r != reply_ids[0]])
    messages = await history(identity, conversation, phone=phone)
    first, second = inbound(messages)
    assert (first.idempotency_key, first.content) == (sid, QUESTION)
    assert second.content == fence
    outbound = [m for m in messages if m.direction == conv_pb.MESSAGE_DIRECTION_OUTBOUND]
    assert len(outbound) == 2


async def test_reply_twilio_reports_undeliverable_is_failed_and_handed_to_a_person(
    channel_fakes, identity, conversation
):
    """Twilio accepted the reply but reports 63016 (outside WhatsApp's 24-hour window) through
    the edge's signed status callback: the reply is recorded failed and a person takes over."""
    phone = new_phone()
    await post_whatsapp(channel_fakes, phone, QUESTION)
    [first, *_] = await whatsapp_answer(channel_fakes, phone)
    reply_id = callback_query(first)["reply_id"]

    reported = await post_status(channel_fakes, first, "undelivered", error_code="63016")
    assert reported.status_code == 204, reported.text

    [question] = inbound(await history(identity, conversation, phone=phone))

    async def failed_and_escalated():
        ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=question.ticket_id))
        [reply] = [m for m in ticket.messages if m.reply_id == reply_id]
        done = reply.delivery_status == conv_pb.DELIVERY_STATUS_FAILED and ticket.escalations
        return ticket if done else None

    ticket = await until(failed_and_escalated, f"reply {reply_id} failed and escalated", timeout=30)
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    assert any("63016" in e.note for e in ticket.escalations)
