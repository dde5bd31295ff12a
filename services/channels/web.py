"""The web form's channel: its ticket page, plus an email notice that a reply is waiting.

The dispatcher stores a web reply on the ticket (that is the delivery); with email enabled the
customer also gets a notice by email, queued on the email channel so Gmail trouble delays the
notice, never the web reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer, ConsumerRecord
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from services.channels.gmail.sender import subject_core
from services.common.kafka import publish

# Marks an email outbound record that is a notice about a reply made elsewhere (the web form),
# not a reply on the ticket: it is sent, but not recorded on the ticket as a message.
KIND_HEADER = "fte-outbound-kind"
NOTICE = b"notice"

PublishNotice = Callable[[events_pb2.OutboundMessage], Awaitable[None]]


class WebSender:
    """The web form's channel is the ticket page: storing the reply is delivering it. With
    email configured, the customer also gets an email saying a reply is waiting: it is queued
    on the email channel (`publish_notice`), so Gmail trouble delays the notice, never the web
    reply, and the notice is retried like any email instead of being lost."""

    channel = channel_pb2.CHANNEL_WEB_FORM
    delivered_status = conv_pb.DELIVERY_STATUS_DELIVERED

    def __init__(self, publish_notice: PublishNotice | None = None, ticket_url: str = "") -> None:
        self._publish_notice = publish_notice
        self._ticket_url = ticket_url

    def sends_notice(self, message: events_pb2.OutboundMessage) -> bool:
        """Whether `send` has anything to do for this reply; without a notice, storing the
        reply was all of its delivery."""
        return self._publish_notice is not None and bool(message.recipient.email)

    async def send(self, message: events_pb2.OutboundMessage) -> str:
        if self.sends_notice(message):
            ticket_url = self._ticket_url.format(ticket_id=message.ticket_id)
            await self._publish_notice(web_reply_notification(message, ticket_url))
        return ""


def notice_publisher(producer: AIOKafkaProducer, topic: str) -> PublishNotice:
    async def publish_notice(notice: events_pb2.OutboundMessage) -> None:
        notice.create_time.GetCurrentTime()
        key = notice.customer_id or notice.recipient.email
        await publish(producer, topic, key, notice, headers=[(KIND_HEADER, NOTICE)])

    return publish_notice


def is_notice(record: ConsumerRecord) -> bool:
    return any(k == KIND_HEADER and v == NOTICE for k, v in record.headers or ())


def web_reply_notification(
    message: events_pb2.OutboundMessage, ticket_url: str
) -> events_pb2.OutboundMessage:
    """An email telling a web-form customer their ticket has a reply (send it with
    GmailSender.send); its own reply id, so it is sent once however often the reply is."""
    name = message.recipient.display_name or "there"
    body = "\n\n".join(
        [
            f"Hi {name},",
            "We have replied to your support request:",
            *message.parts,
            f"See the whole conversation: {ticket_url}",
        ]
    )
    return events_pb2.OutboundMessage(
        reply_id=f"{message.reply_id}:email-notice",
        ticket_id=message.ticket_id,
        customer_id=message.customer_id,
        conversation_id=message.conversation_id,
        channel=channel_pb2.CHANNEL_EMAIL,
        recipient=message.recipient,
        parts=[body],
        subject=f"We replied: {subject_core(message.subject)}"
        if message.subject
        else "We replied to your support request",
    )
