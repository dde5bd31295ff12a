"""One channel failing never stalls another: with the local Gmail answering 503, the real
dispatcher, on real Kafka and the real ConversationService, still delivers WhatsApp and web
replies; the email reply waits (recorded, not sent, not dead-lettered), health shows email
degraded, and once Gmail is back the email reply goes out too."""

from __future__ import annotations

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from services.channels.resilience import channel_health
from tests.channels.conftest import gmail_settings
from tests.channels.dispatcher_run import until
from tests.fakes.gmail import BACKEND_ERROR

EMAIL, WHATSAPP, WEB = channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_WHATSAPP, channel_pb2.CHANNEL_WEB_FORM
ANSWER = "Here is how to restore your board."


async def test_gmail_down_leaves_whatsapp_and_web_flowing(
    dispatcher, gmail, twilio, registry
):
    channels = gmail_settings(
        gmail, twilio_api_base_url=twilio.url, breaker_failure_threshold=1, breaker_reset_s=2.0
    )
    gmail.fail("POST", r"/messages/send$", BACKEND_ERROR, times=1000)
    # Gmail answers slowly as well as wrongly: the email reply is busy failing while the rest goes.
    gmail.stall("POST", r"/messages/send$", seconds=0.3, times=3)
    async with dispatcher(channels) as run:
        mail, chat, web = [await run.open_ticket(c) for c in (EMAIL, WHATSAPP, WEB)]
        mail_reply = await run.reply(mail, ANSWER, email="ana@example.com")
        chat_reply = await run.reply(chat, ANSWER, phone="+351912345678")
        web_reply = await run.reply(web, ANSWER, email="")
        await run.publish(EMAIL, mail_reply)
        await run.publish(WHATSAPP, chat_reply)
        await run.publish(WEB, web_reply)

        await run.delivered(chat, chat_reply.reply_id, conv_pb.DELIVERY_STATUS_SENT)
        await run.delivered(web, web_reply.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)
        await until(lambda: channel_health(registry)["email"] == "degraded", "email to show degraded")
        assert channel_health(registry) == {"email": "degraded", "whatsapp": "ok"}
        assert await run.delivery(mail, mail_reply.reply_id) == conv_pb.DELIVERY_STATUS_PENDING
        assert gmail.sent == []
        assert [m["Body"] for m in twilio.messages] == [ANSWER]

        gmail.recover()
        await run.delivered(mail, mail_reply.reply_id, conv_pb.DELIVERY_STATUS_SENT, timeout=120)
        dead = await run._dlq.getmany(timeout_ms=500)

    assert [str(s.mime["Subject"]) for s in gmail.sent] == ["Re: Board question"]
    assert not any(dead.values()), "an outage is waited out, not dead-lettered"
