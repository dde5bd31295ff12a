"""One channel failing never stalls another: with the local Gmail answering 503, the real
OutboundDispatcher still sends WhatsApp and web replies, the email reply is left for a later
retry (a transient error: its record stays uncommitted), and health shows email degraded."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import ConsumerRecord
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from services.channels.gmail import GmailApi, GmailSender
from services.channels.outbound_dispatcher import OutboundDispatcher, WebSender
from services.channels.resilience import ChannelUnavailable, channel_health
from services.channels.whatsapp import WhatsAppSender
from services.common import topics
from services.common.retry import is_transient
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, gmail_settings
from tests.fakes.gmail import BACKEND_ERROR
from tests.fakes.twilio import FakeTwilio


class ConversationStub:
    """ConversationService as the dispatcher sees it: records what it was told."""

    def __init__(self) -> None:
        self.updates: list[conv_pb.UpdateDeliveryStatusRequest] = []

    async def RecordOutbound(self, request, **kwargs):
        return conv_pb.RecordOutboundResponse(message_id=f"m-{request.reply_id}")

    async def UpdateDeliveryStatus(self, request, **kwargs):
        self.updates.append(request)
        return conv_pb.UpdateDeliveryStatusResponse(delivery_status=request.delivery_status)


def record(message: events_pb2.OutboundMessage, offset: int = 0) -> ConsumerRecord:
    value = message.SerializeToString()
    return ConsumerRecord(
        topic=topics.outbound_topic(message.channel),
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"customer",
        value=value,
        checksum=None,
        serialized_key_size=8,
        serialized_value_size=len(value),
        headers=[],
    )


def reply(channel: int, reply_id: str, **recipient) -> events_pb2.OutboundMessage:
    return events_pb2.OutboundMessage(
        reply_id=reply_id,
        ticket_id=f"t-{reply_id}",
        channel=channel,
        recipient=events_pb2.Recipient(**recipient),
        parts=["Here is how to restore your board."],
        subject="Re: Board",
    )


@pytest.fixture
def twilio():
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


async def test_gmail_down_leaves_whatsapp_and_web_flowing(gmail, twilio, registry):
    settings = gmail_settings(gmail, twilio_api_base_url=twilio.url, breaker_failure_threshold=1)
    gmail.fail("POST", r"/messages/send$", BACKEND_ERROR, times=1000)
    # Gmail answers slowly as well as wrongly: the email reply is busy failing while the rest goes.
    gmail.stall("POST", r"/messages/send$", seconds=0.3, times=3)
    whatsapp = WhatsAppSender(settings, registry=registry)
    email = GmailSender(settings, GmailApi(settings, registry=registry))
    conversation = ConversationStub()
    dispatcher = OutboundDispatcher(conversation, [WebSender(), email, whatsapp])
    try:
        email_task = asyncio.create_task(
            dispatcher.handle(record(reply(channel_pb2.CHANNEL_EMAIL, "e1", email="ana@example.com")))
        )
        others = await asyncio.gather(
            dispatcher.handle(
                record(reply(channel_pb2.CHANNEL_WHATSAPP, "w1", phone="whatsapp:+351912345678"))
            ),
            dispatcher.handle(record(reply(channel_pb2.CHANNEL_WEB_FORM, "f1", email="lee@example.com"))),
        )
        email_was_still_failing = not email_task.done()
        with pytest.raises(ChannelUnavailable) as err:
            await email_task
    finally:
        await whatsapp.aclose()

    assert others == ["sent", "sent"]
    assert email_was_still_failing
    assert is_transient(err.value)  # run_channel retries it later; the offset is not committed
    assert [m["Body"] for m in twilio.messages] == ["Here is how to restore your board."]
    assert {(u.reply_id, u.delivery_status) for u in conversation.updates} == {
        ("w1", conv_pb.DELIVERY_STATUS_SENT),
        ("f1", conv_pb.DELIVERY_STATUS_DELIVERED),
    }
    assert gmail.sent == []
    assert channel_health(registry) == {"email": "degraded", "whatsapp": "ok"}
