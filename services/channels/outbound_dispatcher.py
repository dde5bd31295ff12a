"""The outbound dispatcher: sends replies from fte.channels.<ch>.outbound and records delivery.

One consumer (and consumer group) per channel, so a slow or failing channel never stalls the
others. Sending is idempotent on the reply id: the reply is recorded through
ConversationService first (a duplicate tells us its stored delivery status), and a reply
already sent is never sent again. Channels without a configured sender are not consumed: their
replies wait in Kafka rather than being dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from google.protobuf.message import DecodeError
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential_jitter

from services.channels.gmail import GmailApi, GmailSender, run_gmail_ingest, web_reply_notification
from services.channels.resilience import BREAKERS, BreakerState, ChannelUnavailable, SendFailed
from services.channels.settings import ChannelSettings
from services.channels.whatsapp import WhatsAppSender
from services.common import topics
from services.common.config import Settings
from services.common.grpc_client import open_channel
from services.common.grpc_server import GrpcService
from services.common.kafka import processing
from services.common.logs import setup_logging
from services.common.retry import is_transient
from services.common.signals import stop_on_signals
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

# A reply with one of these statuses was handled before: a redelivered record is not resent.
_ALREADY_HANDLED = (
    conv_pb.DELIVERY_STATUS_SENT,
    conv_pb.DELIVERY_STATUS_DELIVERED,
    conv_pb.DELIVERY_STATUS_FAILED,
)


class DispatcherSettings(Settings):
    consumer_group_prefix: str = "fte-dispatcher"
    # The dispatcher's own gRPC port: health only, one service per channel
    # ("fte.channels.email" ...) that follows that channel's circuit breaker.
    grpc_port: int = 50054


class ChannelSender(Protocol):
    """Sends one reply on a channel; returns the channel's id for it (or "")."""

    channel: int
    # The status to record after a successful send: web replies are delivered by being stored.
    delivered_status: int

    async def send(self, message: events_pb2.OutboundMessage) -> str: ...


class WebSender:
    """The web form's channel is the ticket page: storing the reply is delivering it. With
    email configured, the customer also gets an email saying a reply is waiting."""

    channel = channel_pb2.CHANNEL_WEB_FORM
    delivered_status = conv_pb.DELIVERY_STATUS_DELIVERED

    def __init__(self, email: GmailSender | None = None, ticket_url: str = "") -> None:
        self._email = email
        self._ticket_url = ticket_url

    async def send(self, message: events_pb2.OutboundMessage) -> str:
        if self._email is not None and message.recipient.email:
            notice = web_reply_notification(message, self._ticket_url.format(ticket_id=message.ticket_id))
            try:
                await self._email.send(notice)
            except (ChannelUnavailable, SendFailed) as exc:
                # The reply itself is on the ticket page already; a notice that cannot go out
                # now must not hold up the web channel (Gmail trouble stays Gmail's).
                log.warning("email notice for reply %s not sent: %s", message.reply_id, exc)
        return ""


class OutboundDispatcher:
    def __init__(self, conversation: conv_grpc.ConversationServiceStub, senders: list[ChannelSender]):
        self.conversation = conversation
        self.senders = {s.channel: s for s in senders}

    async def handle(self, record: ConsumerRecord) -> str:
        """Handles one outbound record. Returns sent | skipped_duplicate | dropped_malformed."""
        with processing(record) as span:
            try:
                message = events_pb2.OutboundMessage.FromString(record.value or b"")
                sender = self.senders[message.channel]
                if not message.reply_id or not message.ticket_id:
                    raise ValueError("reply_id and ticket_id are required")
            except (DecodeError, KeyError, ValueError) as exc:
                # Not a reply we can ever send; the worker's DLQ path covers real replies.
                log.error("malformed outbound record %s@%s: %r", record.topic, record.offset, exc)
                span.set_attribute("fte.outcome", "dropped_malformed")
                return "dropped_malformed"
            recorded = await self.conversation.RecordOutbound(
                conv_pb.RecordOutboundRequest(
                    ticket_id=message.ticket_id,
                    content="\n\n".join(message.parts),
                    channel=message.channel,
                    reply_id=message.reply_id,
                    # The worker records the reply (with its real role) before publishing it;
                    # this call only finds it, or stores it if that record is missing.
                    role=conv_pb.MESSAGE_ROLE_AGENT,
                    latency_ms=message.latency_ms,
                    delivery_status=conv_pb.DELIVERY_STATUS_PENDING,
                )
            )
            if recorded.duplicate and recorded.delivery_status in _ALREADY_HANDLED:
                span.set_attribute("fte.outcome", "skipped_duplicate")
                return "skipped_duplicate"
            try:
                external_id = await sender.send(message)
            except SendFailed as exc:
                # The provider refused it for good (e.g. outside WhatsApp's 24 h window):
                # recorded as failed with the reason, and a person takes over.
                await self._record_failure(message, exc)
                span.set_attribute("fte.outcome", "failed")
                return "failed"
            await self.conversation.UpdateDeliveryStatus(
                conv_pb.UpdateDeliveryStatusRequest(
                    reply_id=message.reply_id,
                    delivery_status=sender.delivered_status,
                    external_id=external_id,
                )
            )
            span.set_attribute("fte.outcome", "sent")
            return "sent"

    async def _record_failure(self, message: events_pb2.OutboundMessage, exc: SendFailed) -> None:
        log.warning("reply %s failed for good: %s", message.reply_id, exc.reason)
        await self.conversation.UpdateDeliveryStatus(
            conv_pb.UpdateDeliveryStatusRequest(
                reply_id=message.reply_id, delivery_status=conv_pb.DELIVERY_STATUS_FAILED, error=exc.reason
            )
        )
        if exc.escalate:
            await self.conversation.Escalate(
                conv_pb.EscalateRequest(
                    ticket_id=message.ticket_id,
                    reason=conv_pb.ESCALATION_REASON_OTHER,
                    note=f"reply could not be delivered: {exc.reason}",
                )
            )


async def run_channel(
    dispatcher: OutboundDispatcher, sender: ChannelSender, settings: DispatcherSettings, stop: asyncio.Event
) -> None:
    """One channel's consumer loop: in order, commit after each reply is handled."""
    slug = topics.channel_slug(sender.channel)
    consumer = AIOKafkaConsumer(
        topics.outbound_topic(sender.channel),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.consumer_group_prefix}-{slug}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=50)
            for tp, records in batches.items():
                for record in records:
                    # A channel or service that is down holds this channel's queue (in order,
                    # nothing dropped) while the other channels keep flowing.
                    async for attempt in AsyncRetrying(
                        retry=retry_if_exception(is_transient),
                        wait=wait_exponential_jitter(multiplier=0.2, max=30),
                        reraise=True,
                    ):
                        with attempt:
                            await dispatcher.handle(record)
                    await consumer.commit({tp: record.offset + 1})
    finally:
        await consumer.stop()


def build_senders(channels: ChannelSettings) -> tuple[list[ChannelSender], GmailApi | None]:
    """One sender per enabled channel (web always); the Gmail API client is shared."""
    senders: list[ChannelSender] = []
    gmail = GmailApi(channels) if channels.gmail_enabled else None
    email = GmailSender(channels, gmail) if gmail else None
    ticket_url = f"{channels.public_base_url.rstrip('/')}/webform/#/ticket/{{ticket_id}}"
    senders.append(WebSender(email, ticket_url))
    if email:
        senders.append(email)
    if channels.whatsapp_enabled:
        senders.append(WhatsAppSender(channels))
    return senders, gmail


async def main() -> None:
    settings = DispatcherSettings()
    channels = ChannelSettings()
    setup_logging("dispatcher", settings.log_level)
    setup_tracing("dispatcher", settings.otel_exporter_otlp_endpoint)
    stop = stop_on_signals()

    async def no_servicers(resources: contextlib.AsyncExitStack) -> list:
        return []

    health = GrpcService("dispatcher", settings)
    await health.start(no_servicers)
    for name, enabled in (("email", channels.gmail_enabled), ("whatsapp", channels.whatsapp_enabled)):
        if enabled:
            await health.set_health(f"fte.channels.{name}", True)
    loop = asyncio.get_running_loop()
    BREAKERS.add_listener(
        lambda name, state: loop.create_task(
            health.set_health(f"fte.channels.{name}", state is BreakerState.CLOSED)
        )
    )

    channel = open_channel(settings.conversation_addr, settings.rpc_timeout_s)
    senders, _ = build_senders(channels)
    dispatcher = OutboundDispatcher(conv_grpc.ConversationServiceStub(channel), senders)
    loops = [run_channel(dispatcher, s, settings, stop) for s in senders]
    if channels.gmail_enabled:
        loops.append(run_gmail_ingest(channels, settings.kafka_bootstrap_servers, stop))
    try:
        await asyncio.gather(*loops)
    finally:
        for sender in senders:
            if hasattr(sender, "aclose"):
                await sender.aclose()
        await channel.close()
        await health.stop(grace=1.0)
        shutdown_tracing()


if __name__ == "__main__":
    asyncio.run(main())
