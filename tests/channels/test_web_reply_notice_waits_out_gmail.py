"""The email notice of a web-form reply is queued on the email channel, not sent inline: with
Gmail answering 503 the web reply is still delivered at once (it is not held up by Gmail's
retries), the notice waits in Kafka, and once Gmail is back it is sent — once, and not recorded
on the ticket as a message of its own."""

from __future__ import annotations

import asyncio

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.channels.conftest import gmail_settings
from tests.channels.dispatcher_run import until
from tests.fakes.gmail import BACKEND_ERROR

WEB = channel_pb2.CHANNEL_WEB_FORM
SEND = r"/messages/send$"
# Three Gmail attempts wait at least 2 s + 4 s between them: an inline notice would hold the
# web reply at least that long.
RETRY_INITIAL_S, RETRY_MAX_S = 2.0, 4.0


async def test_web_reply_is_delivered_at_once_and_its_notice_is_sent_after_gmail_recovers(
    dispatcher, conversation, gmail
):
    channels = gmail_settings(
        gmail,
        channel_retry_initial_s=RETRY_INITIAL_S,
        channel_retry_max_s=RETRY_MAX_S,
        breaker_reset_s=0.5,
    )
    async with dispatcher(channels) as run:
        # The web channel's consumer is up and serving (no notice: no email address).
        warm = await run.open_ticket(WEB)
        warm_reply = await run.reply(warm, "Warm-up.")
        await run.publish(WEB, warm_reply)
        await run.delivered(warm, warm_reply.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)

        gmail.fail("POST", SEND, BACKEND_ERROR, times=1_000_000)
        ticket = await run.open_ticket(WEB)
        reply = await run.reply(ticket, "Turn on two-factor in Settings > Security.", email="noor@example.com")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await run.publish(WEB, reply)
        await run.delivered(ticket, reply.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED, timeout=30)
        elapsed = loop.time() - started

        assert elapsed < RETRY_INITIAL_S + RETRY_MAX_S, f"the web reply waited {elapsed:.1f}s for Gmail"
        # The notice is being tried on the email channel meanwhile, and is not through.
        await until(lambda: gmail.received("POST", SEND), "Gmail to be asked to send the notice")
        assert gmail.sent == []
        await asyncio.sleep(RETRY_INITIAL_S + RETRY_MAX_S)
        assert gmail.sent == []

        gmail.recover()
        [notice] = await until(lambda: list(gmail.sent), "the notice once Gmail is back", timeout=90)
        await asyncio.sleep(1.0)  # nothing else follows it
        assert len(gmail.sent) == 1
        assert run.dead == [] and await run.dead_letters(0, timeout=1) == []

    assert str(notice.mime["To"]) == "Ana Silva <noor@example.com>"
    assert str(notice.mime["Subject"]) == "We replied: Board question"
    text = notice.mime.get_body(("plain",)).get_content()
    assert "Turn on two-factor in Settings > Security." in text
    assert f"/webform/#/ticket/{ticket.ticket_id}" in text
    # The ticket shows the reply itself, not the notice about it.
    view = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket.ticket_id))
    outbound = [m for m in view.messages if m.direction == conv_pb.MESSAGE_DIRECTION_OUTBOUND]
    assert [m.reply_id for m in outbound] == [reply.reply_id]
