"""When identity or conversation kept failing, the worker apologises to a sender whose message
never got a ticket. The dispatcher sends such a message on WhatsApp and email without recording
it on a ticket; on the web form, whose only channel is the ticket page, there is nothing to show
it on, and it is neither dead-lettered nor allowed to hold up the channel."""

from __future__ import annotations

import uuid

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from tests.channels.dispatcher_run import until

APOLOGY = "We're sorry — something went wrong while handling your message."


def _apology(channel: int, **recipient: str) -> events_pb2.OutboundMessage:
    return events_pb2.OutboundMessage(
        reply_id=f"apology-{uuid.uuid4().hex}",
        channel=channel,
        recipient=events_pb2.Recipient(display_name="Ana Silva", **recipient),
        parts=[APOLOGY],
        subject="Re: Board question",
        escalated=True,
    )


async def test_ticketless_apology_is_sent_on_whatsapp_and_email_and_skipped_on_the_web(
    dispatcher, gmail, twilio
):
    async with dispatcher() as run:
        await run.publish(channel_pb2.CHANNEL_WHATSAPP, _apology(channel_pb2.CHANNEL_WHATSAPP, phone="+351912000009"))
        await run.publish(channel_pb2.CHANNEL_EMAIL, _apology(channel_pb2.CHANNEL_EMAIL, email="ana@example.com"))
        await run.publish(channel_pb2.CHANNEL_WEB_FORM, _apology(channel_pb2.CHANNEL_WEB_FORM, email="ana@example.com"))
        # A normal web reply behind the ticketless one on the same channel.
        web = await run.open_ticket(channel_pb2.CHANNEL_WEB_FORM)
        web_reply = await run.reply(web, "Your export is ready.", email="")
        await run.publish(channel_pb2.CHANNEL_WEB_FORM, web_reply)

        await until(lambda: twilio.messages, "the WhatsApp apology")
        await until(lambda: gmail.sent, "the email apology")
        await run.delivered(web, web_reply.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)
        dead = await run._dlq.getmany(timeout_ms=1000)

    [whatsapp] = twilio.messages
    assert whatsapp["To"] == "whatsapp:+351912000009" and whatsapp["Body"] == APOLOGY
    [mail] = gmail.sent
    plain = next(p for p in mail.mime.walk() if p.get_content_type() == "text/plain")
    assert "ana@example.com" in mail.mime["To"] and APOLOGY in plain.get_content()
    assert not any(dead.values()), "a ticketless apology is not a dead letter"
