"""The outbound dispatcher: sends replies from fte.channels.<ch>.outbound and records delivery.

One consumer (and consumer group) per channel, so a slow or failing channel never stalls the
others. Sending is idempotent on the reply id: the reply is recorded through
ConversationService first (a duplicate tells us its stored delivery status), and a reply
already sent is never sent again. A web reply with nothing to send (no email notice) was
delivered when it was stored: it is only marked so, in one call whose answer tells a repeat
(`_mark_stored_reply`). Channels without a configured sender are not consumed: their
replies wait in Kafka rather than being dropped.

What happens to a record that fails (`OutboundDispatcher.retry`, applied by the shared consume
loop in `services.common.consumer`):

* An outage waits, however long it lasts, in order, uncommitted: the channel's provider down
  (`ChannelUnavailable`: retries exhausted or circuit open; the breaker already paces the
  attempts) or ConversationService unreachable (gRPC UNAVAILABLE). Nothing about such an error
  is specific to the record, and during a ConversationService outage the escalation a dead
  letter needs could not be made anyway.
* Any other transient error (DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED, ...,
  a Kafka error) is retried `max_attempts` times with backoff; then the record is dead-lettered.
* A non-transient error (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, a malformed record,
  a bug) is dead-lettered at once.

Dead-lettering publishes an fte.events.v1.DeadLetter to fte.dlq (retried until Kafka takes it),
escalates the ticket, when the record names one, with reason PROCESSING_ERROR, and then the
offset is committed: the channel goes on with its next record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from aiokafka import ConsumerRecord
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from google.protobuf.message import DecodeError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.common.dead_letters import DeadLetters, describe_error
from services.channels.gmail.client import GmailApi
from services.channels.gmail.ingest import run_gmail_ingest
from services.channels.gmail.sender import GmailSender
from services.channels.resilience import (
    BREAKERS,
    BreakerRegistry,
    BreakerState,
    ChannelUnavailable,
    SendFailed,
    SendProgress,
)
from services.channels.settings import ChannelSettings
from services.channels.web import PublishNotice, WebSender, is_notice, notice_publisher
from services.channels.whatsapp import WhatsAppSender
from services.common import channels, topics
from services.common.config import Settings
from services.common.consumer import consume
from services.common.grpc_client import open_channel
from services.common.grpc_server import GrpcService
from services.common.heap import freeze_startup_heap
from services.common.kafka import new_producer, processing
from services.common.logs import setup_logging
from services.common.metrics import REPLY_LATENCY
from services.common.retry import RetryPolicy, Stopped, is_transient
from services.common.signals import stop_on_signals
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("fte.dispatcher")

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
    # Attempts for a record failing transiently for reasons other than an outage (see the
    # module docstring) before it is dead-lettered; ~1 minute of backoff with the defaults.
    max_attempts: int = 10
    retry_max_s: float = 30.0


@dataclass(frozen=True)
class DispatcherTopics:
    """Topic names; a prefix gives a test run topics of its own on a shared broker."""

    prefix: str = ""

    def outbound(self, channel: int) -> str:
        return self.prefix + topics.outbound_topic(channel)

    @property
    def dlq(self) -> str:
        return self.prefix + topics.DLQ

    @property
    def email_notifications(self) -> str:
        return self.prefix + topics.inbound_topic(channel_pb2.CHANNEL_EMAIL)

    @property
    def incoming(self) -> str:
        return self.prefix + topics.INCOMING


class ChannelSender(Protocol):
    """Sends one reply on a channel; returns the channel's id for it (or "")."""

    channel: int
    # The status to record after a successful send: web replies are delivered by being stored.
    delivered_status: int

    async def send(self, message: events_pb2.OutboundMessage) -> str: ...


class MalformedRecord(ValueError):
    """An outbound record that can never be sent (undecodable, unknown channel, no ids)."""


def is_outage(exc: BaseException | None) -> bool:
    """The channel's provider or ConversationService is down: nothing is wrong with the record."""
    if isinstance(exc, ChannelUnavailable):
        return True
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


class OutboundDispatcher:
    def __init__(
        self,
        conversation: conv_grpc.ConversationServiceStub,
        senders: list[ChannelSender],
        *,
        dead_letters: DeadLetters,
        settings: DispatcherSettings | None = None,
    ):
        self.conversation = conversation
        self.senders = {s.channel: s for s in senders}
        self.dead_letters = dead_letters
        self.settings = settings or DispatcherSettings()
        # How the consume loop tries a record before it is dead-lettered; an outage waits
        # (uncommitted, in order) for as long as it lasts.
        self.retry = self.settings.retry_policy(outage=is_outage)
        # Replies sent whose delivery status is not recorded yet (ConversationService or its
        # database was away right after the send): the record's next attempt records the
        # status without sending the reply again. In memory and bounded, like the senders'
        # own progress: across a crash, delivery stays at-least-once.
        self.unrecorded = SendProgress()

    async def handle(self, record: ConsumerRecord) -> str:
        """One attempt at one outbound record. Returns sent | skipped_duplicate | failed;
        raises on errors (MalformedRecord for a record that can never be sent)."""
        with processing(record) as span:
            message, sender = self._decode(record)
            if not message.ticket_id and sender.channel == channel_pb2.CHANNEL_WEB_FORM:
                # The web form's only channel is its ticket page, and this message has no stored
                # ticket to show it on (the worker's apology when the ticket could not be
                # created). The inbound event is in fte.dlq, where people pick it up.
                log.warning("reply %s has no ticket page to be shown on", message.reply_id)
                span.set_attribute("fte.outcome", "no_ticket_page")
                return "no_ticket_page"
            if is_notice(record) or not message.ticket_id:
                # A notice about a reply made elsewhere, or an apology for a message that never
                # got a ticket: nothing to record on a ticket, only to send.
                await self._send(sender, message, notice=is_notice(record))
                span.set_attribute("fte.outcome", "sent")
                return "sent"
            if isinstance(sender, WebSender) and not sender.sends_notice(message):
                marked = await self._mark_stored_reply(message)
                if marked:
                    span.set_attribute("fte.outcome", marked)
                    return marked
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
            sent = self.unrecorded.sent(message.reply_id)
            if not sent:
                try:
                    sent.append(await self._send(sender, message))
                except SendFailed as exc:
                    # The provider refused it for good (e.g. outside WhatsApp's 24 h window):
                    # recorded as failed with the reason, and a person takes over.
                    self.unrecorded.forget(message.reply_id)
                    await self._record_failure(message, exc)
                    span.set_attribute("fte.outcome", "failed")
                    return "failed"
            await self.conversation.UpdateDeliveryStatus(
                conv_pb.UpdateDeliveryStatusRequest(
                    reply_id=message.reply_id,
                    delivery_status=sender.delivered_status,
                    external_id=sent[-1],
                )
            )
            self.unrecorded.forget(message.reply_id)
            observe_reply_latency(message)
            span.set_attribute("fte.outcome", "sent")
            return "sent"

    async def _mark_stored_reply(self, message: events_pb2.OutboundMessage) -> str | None:
        """A web reply with no notice to send was delivered when the worker stored it: one call
        marks it so, and its previous status tells a redelivered record (the usual path would
        find the reply, then mark it: two calls). None when the reply is not stored (the
        worker's record of it is missing): the usual path stores it."""
        try:
            marked = await self.conversation.UpdateDeliveryStatus(
                conv_pb.UpdateDeliveryStatusRequest(
                    reply_id=message.reply_id, delivery_status=conv_pb.DELIVERY_STATUS_DELIVERED))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None
        if marked.previous_delivery_status in _ALREADY_HANDLED:
            return "skipped_duplicate"
        observe_reply_latency(message)
        return "sent"

    async def _send(self, sender: ChannelSender, message: events_pb2.OutboundMessage, *,
                    notice: bool = False) -> str:
        """The channel API call (Twilio's Messages.create, Gmail's messages.send, the ticket
        page) in a `"<channel> send"` CLIENT span. Only ids go on it: a provider's error text
        may quote the customer's address, so failures record just the error's type."""
        channel = channels.BY_VALUE.get(sender.channel, str(sender.channel))
        with _tracer.start_as_current_span(f"{channel} send", kind=SpanKind.CLIENT,
                                           record_exception=False,
                                           set_status_on_exception=False) as span:
            span.set_attribute("fte.channel", channel)
            span.set_attribute("fte.reply_id", message.reply_id)
            span.set_attribute("fte.parts", len(message.parts))
            span.set_attribute("fte.notice", notice)
            try:
                external_id = await sender.send(message)
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                raise
            span.set_attribute("fte.external_id", external_id or "")
            return external_id

    def _decode(self, record: ConsumerRecord) -> tuple[events_pb2.OutboundMessage, ChannelSender]:
        try:
            message = events_pb2.OutboundMessage.FromString(record.value or b"")
        except DecodeError as exc:
            raise MalformedRecord(f"not an OutboundMessage: {exc}") from exc
        sender = self.senders.get(message.channel)
        if sender is None:
            raise MalformedRecord(f"no sender for channel {message.channel} on {record.topic}")
        if not message.reply_id:
            raise MalformedRecord("reply_id is required")
        return message, sender

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

    async def dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        """Parks a record that failed for good in the DLQ, then hands its ticket to a person."""
        message = events_pb2.OutboundMessage()
        with contextlib.suppress(DecodeError):
            message = events_pb2.OutboundMessage.FromString(record.value or b"")
        error = describe_error(exc)
        await self.dead_letters.park(
            record,
            stage="decode" if isinstance(exc, MalformedRecord) else "send",
            error=error,
            attempts=attempts,
            idempotency_key=message.reply_id,
        )
        if not message.ticket_id or is_notice(record):
            # No ticket to hand over (the DLQ holds it for people), or a web-reply notice whose
            # reply is on the ticket page already.
            return
        escalate = RetryPolicy(attempts=3, initial_s=self.settings.retry_initial_s, max_s=5, retry_on=is_transient)
        try:
            await escalate.call(
                self.conversation.Escalate,
                conv_pb.EscalateRequest(
                    ticket_id=message.ticket_id,
                    reason=conv_pb.ESCALATION_REASON_PROCESSING_ERROR,
                    note=f"automatic: reply {message.reply_id} could not be sent "
                    f"(parked in {self.dead_letters.topic}): {error[:500]}",
                ),
            )
        except Exception as escalation_error:  # noqa: BLE001 - the dead letter is what counts
            log.error(
                "ticket %s not escalated after dead-lettering reply %s: %s",
                message.ticket_id,
                message.reply_id,
                describe_error(escalation_error),
            )


def observe_reply_latency(message: events_pb2.OutboundMessage) -> None:
    """fte_reply_latency_seconds: the worker's `latency_ms` (the edge, or Gmail for email, receiving
    the message → the reply published, `create_time`) plus the time since it was published. Replies
    without a measured latency (hold notices, apologies) are not observed."""
    if message.latency_ms <= 0 or not message.HasField("create_time"):
        return
    since_published = max(0.0, time.time() - message.create_time.ToNanoseconds() / 1e9)
    REPLY_LATENCY.labels(topics.channel_slug(message.channel)).observe(message.latency_ms / 1000 + since_published)


async def run_channel(
    dispatcher: OutboundDispatcher,
    sender: ChannelSender,
    settings: DispatcherSettings,
    stop: asyncio.Event,
    topic: str | None = None,
) -> None:
    """One channel's consumer, in a consumer group of its own: an outage holds this channel's
    queue (in order, nothing dropped) while the other channels keep flowing; a bad record is
    parked in the DLQ."""
    # A web reply's notice is sent with nothing recorded (`handle`): only its committed offset
    # keeps it from going out again after a crash. So the channel that carries the notices
    # commits each record at once, not up to the consume loop's interval (0.25 s) behind: a
    # dispatcher killed in that interval had sent a customer the same notice twice (chaos test).
    at_once = {"commit_interval_s": 0.0} if sender.channel == channel_pb2.CHANNEL_EMAIL else {}
    await consume(
        settings.kafka_bootstrap_servers,
        f"{settings.consumer_group_prefix}-{topics.channel_slug(sender.channel)}",
        [topic or topics.outbound_topic(sender.channel)],
        dispatcher.handle,
        stop,
        grace_s=settings.grace_period_s,
        drain_s=settings.rebalance_drain_s,
        retry=dispatcher.retry,
        dead_letter=dispatcher.dead_letter,
        max_records=50,
        **at_once,
    )


# A crashed loop starts again, sooner at first; until the dispatcher stops.
_RESTART = RetryPolicy(initial_s=1.0, max_s=60.0)


async def supervised(name: str, run: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Restarts a loop that crashed, so one channel's trouble never ends the others."""

    async def logged() -> None:
        try:
            await run()
        except Exception:
            log.exception("%s loop crashed; restarting it", name)
            raise

    with contextlib.suppress(Stopped):
        await _RESTART.call(logged, stop=stop)


def build_senders(
    channels: ChannelSettings,
    publish_notice: PublishNotice | None = None,
    registry: BreakerRegistry = BREAKERS,
) -> tuple[list[ChannelSender], GmailApi | None]:
    """One sender per enabled channel (web always); the Gmail API client is shared. Web-form
    notices are published (to the email channel) only when email is enabled."""
    senders: list[ChannelSender] = []
    gmail = GmailApi(channels, registry=registry) if channels.gmail_enabled else None
    email = GmailSender(channels, gmail) if gmail else None
    ticket_url = f"{channels.public_base_url.rstrip('/')}/webform/#/ticket/{{ticket_id}}"
    senders.append(WebSender(publish_notice if email else None, ticket_url))
    if email:
        senders.append(email)
    if channels.whatsapp_enabled:
        senders.append(WhatsAppSender(channels, registry=registry))
    return senders, gmail


async def run_dispatcher(
    settings: DispatcherSettings,
    channels: ChannelSettings,
    stop: asyncio.Event,
    *,
    names: DispatcherTopics = DispatcherTopics(),
    registry: BreakerRegistry = BREAKERS,
) -> None:
    """Every channel's consumer (and the Gmail ingest) until `stop`."""
    producer = new_producer(settings.kafka_bootstrap_servers, "dispatcher")
    await producer.start()
    channel = open_channel(
        settings.conversation_addr, settings.rpc_timeout_s, settings.service_key.get_secret_value())
    email_topic = names.outbound(channel_pb2.CHANNEL_EMAIL)
    senders, _ = build_senders(channels, notice_publisher(producer, email_topic), registry)
    dispatcher = OutboundDispatcher(
        conv_grpc.ConversationServiceStub(channel),
        senders,
        dead_letters=DeadLetters(producer, names.dlq),
        settings=settings,
    )
    loops = [
        supervised(
            topics.channel_slug(s.channel),
            lambda s=s: run_channel(dispatcher, s, settings, stop, names.outbound(s.channel)),
            stop,
        )
        for s in senders
    ]
    if channels.gmail_enabled:
        loops.append(
            supervised(
                "gmail-ingest",
                lambda: run_gmail_ingest(
                    channels,
                    settings.kafka_bootstrap_servers,
                    stop,
                    notifications_topic=names.email_notifications,
                    incoming_topic=names.incoming,
                    dlq_topic=names.dlq,
                    registry=registry,
                    grace_s=settings.grace_period_s,
                    drain_s=settings.rebalance_drain_s,
                ),
                stop,
            )
        )
    try:
        await asyncio.gather(*loops)
    finally:
        for sender in senders:
            if hasattr(sender, "aclose"):
                await sender.aclose()
        await channel.close()
        await producer.stop()


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
    freeze_startup_heap()
    try:
        await run_dispatcher(settings, channels, stop)
    finally:
        await health.stop(grace=1.0)
        shutdown_tracing()

