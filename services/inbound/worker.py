"""The inbound worker: drives one customer message through the services.

fte.tickets.incoming → ResolveCustomer → RecordInbound (ticket first) → Respond →
RecordOutbound (pending) → publish to fte.channels.<ch>.outbound (+ fte.escalations) → commit.
A conversation a person holds (RecordInbound's `held_by`) skips Respond: at most the short
hold notice is sent.

At-least-once in, exactly-once as the customer sees it: every write downstream is keyed
(idempotency key, ticket id, reply id derived from the idempotency key), so a redelivered
record changes nothing. The offset is committed only after a record is fully handled; records
of one partition are handled in order (the key is the sender, so one customer's messages are
ordered), partitions concurrently. A record that keeps failing goes to fte.dlq, the customer
gets an apology and a human — it never blocks its partition. The one wait without a budget is
a database outage a live service reports (DATABASE_UNAVAILABLE): every record would fail alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass

import grpc
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from google.protobuf.message import DecodeError
from pydantic import Field

from services.agent.guardrails import sentiment
from services.common import channels, formatting, link_codes, topics
from services.common.config import Settings
from services.common.consumer import consume
from services.common.dead_letters import DeadLetters
from services.common.errors import is_database_outage
from services.common.heap import freeze_startup_heap
from services.common.kafka import new_producer, processing, publish
from services.common.logs import setup_logging
from services.common.metrics import CONVERSATIONS, MESSAGE_OUTCOMES, MESSAGES, SENTIMENT, serve_metrics, zero
from services.common.retry import Counted, RetryPolicy
from services.common.signals import stop_on_signals
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

# Reply ids are derived from the inbound idempotency key: a redelivered message gets the same
# reply id, which every later step is idempotent on.
_REPLY_NS = uuid.UUID("0b8f8f2e-4a53-4c1e-8f55-6d1c1a3b7e20")

APOLOGY = (
    "We're sorry — something went wrong while handling your message. "
    "A member of our support team has it now and will reply to you personally."
)



# How each handled message counts in fte_messages{outcome}: a message a person holds waits for
# that person (escalated); one the agent chose to stay silent on is covered by its earlier reply.
_OUTCOMES = {"replied": "answered", "silenced": "answered", "escalated": "escalated",
             "held": "escalated", "dead_letter": "dead_lettered"}


def _channel(value: int) -> str:
    return channels.BY_VALUE.get(value, "unknown")


def hold_notice(held_by: str) -> str:
    """Told to a customer whose conversation a person holds (at most once an hour); it states
    no company fact, only who will answer."""
    return f"Thanks, your message was added to your conversation. {held_by} will reply to you."


class WorkerSettings(Settings):
    consumer_group: str = "fte-inbound-worker"
    respond_timeout_s: float = 60.0
    # How long Kafka may keep refusing a dead letter before the record is left uncommitted (and
    # read again): an outage neither loses the record nor holds a shutdown forever.
    dlq_publish_timeout_s: float = 30.0
    # Messages this worker process handles at once (WORKER_MAX_IN_FLIGHT), whichever partitions
    # they came on, taken in the order they were fetched; one sender's messages (the record key)
    # stay in order. A number per process, so every replica brings its own: with one per
    # partition assigned (0, the old default) the group's total stayed the partition count however
    # many replicas ran, and a second replica split the first one's work instead of adding to it.
    worker_max_in_flight: int = Field(default=6, ge=0)


def reply_id_for(idempotency_key: str, suffix: str = "") -> str:
    return str(uuid.uuid5(_REPLY_NS, idempotency_key + suffix))


class StageFailed(Exception):
    """A step failed for good (permanent error, or transient past the retry budget)."""

    def __init__(self, stage: str, cause: BaseException, attempts: int) -> None:
        detail = cause.details() if isinstance(cause, grpc.aio.AioRpcError) else repr(cause)
        code = cause.code().name if isinstance(cause, grpc.aio.AioRpcError) else type(cause).__name__
        super().__init__(f"{stage}: {code}: {detail}")
        self.stage = stage
        self.attempts = attempts


@dataclass
class _Known:
    """What is known about the message so far (for the failure path)."""

    customer_id: str = ""
    ticket_id: str = ""
    conversation_id: str = ""


class InboundWorker:
    def __init__(
        self,
        settings: WorkerSettings,
        producer: AIOKafkaProducer,
        identity: id_grpc.IdentityServiceStub,
        conversation: conv_grpc.ConversationServiceStub,
        agent: agent_grpc.AgentServiceStub,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.identity = identity
        self.conversation = conversation
        self.agent = agent
        # A service reporting that its database is away is waited out for as long as that
        # lasts (the record stays uncommitted, its partition in order); anything else
        # transient gets MAX_ATTEMPTS, then the dead letter and the apology.
        self.retry = settings.retry_policy(outage=is_database_outage)
        self._stage_retries: dict[str, RetryPolicy] = {}  # self.retry, named for each stage

    async def _step(self, stage: str, call, *args, **kwargs):
        policy = self._stage_retries.get(stage)
        if policy is None:
            policy = self._stage_retries[stage] = dataclasses.replace(self.retry, log_as=stage)
        attempt = Counted(call, *args, **kwargs)
        try:
            return await policy.call(attempt)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
            raise StageFailed(stage, exc, attempt.attempts) from exc

    async def handle(self, record: ConsumerRecord) -> str:
        """Handles one record completely. Returns replied | escalated | silenced | held |
        dead_letter."""
        with processing(record, self.settings.consumer_group) as span:
            known = _Known()
            try:
                event = events_pb2.InboundMessage.FromString(record.value or b"")
                if not event.idempotency_key or not event.channel:
                    raise ValueError("event has no idempotency_key or channel")
            except (DecodeError, ValueError) as exc:
                await self._dead_letter(record, "decode", repr(exc), 1, None, known)
                span.set_attribute("fte.outcome", "dead_letter")
                MESSAGES.labels("unknown", "dead_lettered").inc()
                return "dead_letter"
            span.set_attribute("fte.idempotency_key", event.idempotency_key)
            try:
                outcome = await self._drive(event, known)
            except StageFailed as failure:
                log.warning("message %s failed: %s", event.idempotency_key, failure)
                await self._dead_letter(record, failure.stage, str(failure), failure.attempts, event, known)
                outcome = "dead_letter"
            span.set_attribute("fte.outcome", outcome)
            MESSAGES.labels(_channel(event.channel), _OUTCOMES[outcome]).inc()
            return outcome

    async def _drive(self, event: events_pb2.InboundMessage, known: _Known) -> str:
        assurance = sender_assurance(event)
        verified = assurance == sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED
        resolved = await self._step(
            "resolve_customer",
            self.identity.ResolveCustomer,
            id_pb.ResolveCustomerRequest(
                channel=event.channel,
                email=event.sender.email,
                phone=event.sender.phone,
                whatsapp=event.sender.whatsapp,
                display_name=event.sender.display_name,
                assurance=assurance,
            ),
        )
        known.customer_id = resolved.customer.customer_id
        recorded = await self._step(
            "record_inbound",
            self.conversation.RecordInbound,
            conv_pb.RecordInboundRequest(
                customer_id=known.customer_id,
                channel=event.channel,
                idempotency_key=event.idempotency_key,
                # A one-time link code is stored redacted; the agent gets it (next step) and
                # hands it only to IdentityService.ConfirmLink (services.common.link_codes).
                content=link_codes.redact(event.content),
                subject=event.subject,
                thread_ref=event.thread.thread_id or event.thread.message_id,
                sender_name=event.sender.display_name,
                category=event.category,
                priority=event.priority,
                requested_ticket_id=event.ticket_id,
                receive_time=event.receive_time if event.HasField("receive_time") else None,
                sender_assurance=assurance,
                # The agent answers next: the ticket moves to processing here, not in a call
                # of the agent's own (unless a person holds the conversation).
                begin_processing=True,
            ),
        )
        known.ticket_id, known.conversation_id = recorded.ticket_id, recorded.conversation_id
        if not recorded.duplicate:  # a redelivered message was counted the first time
            channel = _channel(event.channel)
            SENTIMENT.labels(channel).observe(sentiment(event.content))
            if recorded.new_conversation:
                CONVERSATIONS.labels(channel).inc()
        if recorded.held_by:
            # A person has claimed this conversation (HandoffService): the message waits for
            # them, the agent stays silent; the customer hears so at most once an hour
            # (ConversationService decides, so every worker replica agrees).
            if recorded.hold_notice_due:
                await self._send_hold_notice(event, known, recorded.held_by,
                                             resolved.customer.display_name if verified else "")
            return "held"
        answer = await self._step(
            "respond",
            self.agent.Respond,
            agent_pb.RespondRequest(
                ticket_id=recorded.ticket_id,
                customer_id=known.customer_id,
                conversation_id=recorded.conversation_id,
                channel=event.channel,
                message=event.content,
                subject=event.subject,
                # A claimed sender is greeted by the name they typed, never by the name the
                # customer whose address they gave is known by.
                customer_name=(resolved.customer.display_name if verified else "")
                or event.sender.display_name,
                message_id=recorded.message_id,
                sender_assurance=assurance,
                ticket_processing=recorded.ticket_status == conv_pb.TICKET_STATUS_PROCESSING,
            ),
            timeout=self.settings.respond_timeout_s,
        )
        if not answer.reply.parts and not answer.reply.text:
            # The agent chose silence (a burst of messages already got one "working on it"
            # reply): nothing to record or send.
            return "silenced"
        reply_id = reply_id_for(event.idempotency_key)
        await self._step(
            "record_outbound",
            self.conversation.RecordOutbound,
            conv_pb.RecordOutboundRequest(
                ticket_id=recorded.ticket_id,
                content=answer.reply.text or "\n\n".join(answer.reply.parts),
                channel=event.channel,
                reply_id=reply_id,
                role=conv_pb.MESSAGE_ROLE_AGENT,
                input_tokens=answer.usage.input_tokens,
                output_tokens=answer.usage.output_tokens,
                latency_ms=answer.latency_ms,
                tool_calls=answer.tool_calls,
                delivery_status=conv_pb.DELIVERY_STATUS_PENDING,
            ),
        )
        await self._step(
            "publish_outbound",
            self._publish_reply,
            event,
            known,
            reply_id,
            list(answer.reply.parts) or [answer.reply.text],
            answer.reply.html,
            answer.reply.subject,
            answer.escalated,
            _since_received_ms(event) or answer.latency_ms,
        )
        if answer.escalated:
            await self._step(
                "publish_escalation",
                self._publish_escalation,
                event,
                known,
                answer.escalation_reason,
                answer.escalation_note,
            )
            return "escalated"
        return "replied"

    async def _send_hold_notice(self, event, known, held_by: str, customer_name: str) -> None:
        """"Your message was added, <name> will reply": recorded on the message's ticket and
        published like a reply (formatted for the channel, same topic, same idempotency)."""
        notice_id = reply_id_for(event.idempotency_key, ":hold-notice")
        reply = formatting.format_reply(
            event.channel, hold_notice(held_by), customer_name or event.sender.display_name,
            event.subject,
        )
        await self._step(
            "record_hold_notice",
            self.conversation.RecordOutbound,
            conv_pb.RecordOutboundRequest(
                ticket_id=known.ticket_id,
                content=reply.text or "\n\n".join(reply.parts),
                channel=event.channel,
                reply_id=notice_id,
                role=conv_pb.MESSAGE_ROLE_SYSTEM,
                delivery_status=conv_pb.DELIVERY_STATUS_PENDING,
            ),
        )
        await self._step(
            "publish_hold_notice", self._publish_reply, event, known, notice_id,
            list(reply.parts), reply.html, reply.subject, True,
        )

    async def _publish_reply(self, event, known, reply_id, parts, html, subject, escalated, latency_ms=0):
        message = events_pb2.OutboundMessage(
            reply_id=reply_id,
            ticket_id=known.ticket_id,
            customer_id=known.customer_id,
            conversation_id=known.conversation_id,
            channel=event.channel,
            recipient=events_pb2.Recipient(
                email=event.sender.email,
                phone=event.sender.whatsapp or event.sender.phone,
                display_name=event.sender.display_name,
            ),
            parts=parts,
            html=html,
            subject=subject or (f"Re: {event.subject}" if event.subject else ""),
            thread=event.thread,
            escalated=escalated,
            in_reply_to_key=event.idempotency_key,
            latency_ms=latency_ms,
        )
        message.create_time.GetCurrentTime()
        if event.HasField("receive_time"):
            message.customer_last_inbound_time.CopyFrom(event.receive_time)
        # Keyed by customer, so one customer's replies stay in order; a message that never got
        # as far as a customer id is keyed by its sender.
        key = known.customer_id or _sender_key(event)
        await publish(self.producer, topics.outbound_topic(event.channel), key, message)

    async def _publish_escalation(self, event, known, reason, note):
        message = events_pb2.Escalation(
            escalation_id=reply_id_for(event.idempotency_key, f":escalation:{reason}"),
            ticket_id=known.ticket_id,
            customer_id=known.customer_id,
            conversation_id=known.conversation_id,
            channel=event.channel,
            reason=reason,
            note=note,
        )
        message.create_time.GetCurrentTime()
        await publish(self.producer, topics.ESCALATIONS, known.customer_id, message)

    async def _dead_letter(self, record, stage, error, attempts, event, known: _Known) -> None:
        """Park the original record in fte.dlq; then, best effort, apologise and hand over.

        The dead letter is written first: only then is the offset committed, so nothing is lost.
        If Kafka refuses it for `dlq_publish_timeout_s` this raises, and the record is left
        uncommitted to be read again."""
        await DeadLetters(self.producer).park(
            record,
            stage=stage,
            error=error,
            attempts=attempts,
            idempotency_key=event.idempotency_key if event else "",
            give_up_after_s=self.settings.dlq_publish_timeout_s,
        )
        if event is None:
            return  # not a message we can read: nobody to answer, the DLQ holds it for people
        apology_id = reply_id_for(event.idempotency_key, ":apology")
        if known.ticket_id:
            # On its own: a failed hand-over must not also cost the customer the apology.
            with contextlib.suppress(StageFailed):
                await self._step(
                    "escalate",
                    self.conversation.Escalate,
                    conv_pb.EscalateRequest(
                        ticket_id=known.ticket_id,
                        reason=conv_pb.ESCALATION_REASON_PROCESSING_ERROR,
                        note=f"automatic: {stage} failed: {error[:500]}",
                    ),
                )
        with contextlib.suppress(StageFailed):
            if known.ticket_id:
                await self._step(
                    "record_apology",
                    self.conversation.RecordOutbound,
                    conv_pb.RecordOutboundRequest(
                        ticket_id=known.ticket_id,
                        content=APOLOGY,
                        channel=event.channel,
                        reply_id=apology_id,
                        role=conv_pb.MESSAGE_ROLE_SYSTEM,
                        delivery_status=conv_pb.DELIVERY_STATUS_PENDING,
                    ),
                )
            # Without a ticket (identity or conversation kept failing) the apology still goes
            # to the sender on their channel; the dead letter is what people pick up.
            await self._step(
                "publish_apology",
                self._publish_reply,
                event,
                known,
                apology_id,
                [APOLOGY],
                "",
                "",
                True,
            )
            if known.ticket_id:
                await self._step(
                    "publish_escalation",
                    self._publish_escalation,
                    event,
                    known,
                    conv_pb.ESCALATION_REASON_PROCESSING_ERROR,
                    f"{stage} failed",
                )


def _since_received_ms(event: events_pb2.InboundMessage) -> int:
    """Milliseconds from the channel receiving the message until now (0: receive time unknown)."""
    if not event.HasField("receive_time"):
        return 0
    return max(0, int(time.time() * 1000) - event.receive_time.ToMilliseconds())


def sender_assurance(event: events_pb2.InboundMessage) -> int:
    """The event's assurance; one published before the field existed is read by its channel:
    a web form's addresses were typed (claimed), the other channels' were checked by the edge."""
    stated = event.sender.assurance
    if stated != sender_assurance_pb2.SENDER_ASSURANCE_UNSPECIFIED:
        return stated
    if event.channel == channel_pb2.CHANNEL_WEB_FORM:
        return sender_assurance_pb2.SENDER_ASSURANCE_CLAIMED
    return sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED


def _sender_key(event: events_pb2.InboundMessage) -> str:
    sender = event.sender
    return (sender.email or sender.whatsapp or sender.phone).strip().lower()


async def main() -> None:
    settings = WorkerSettings()
    setup_logging("worker", settings.log_level)
    setup_tracing("worker", settings.otel_exporter_otlp_endpoint)
    stop = stop_on_signals()
    async with contextlib.AsyncExitStack() as stack:
        def stub(make, address: str):
            return make(settings.channel(stack, address))

        zero(MESSAGES, channels.BY_VALUE.values(), MESSAGE_OUTCOMES)
        if settings.metrics_port:
            stack.callback(serve_metrics(settings.metrics_port, settings.grpc_host).close)
        producer = new_producer(settings.kafka_bootstrap_servers, "inbound-worker")
        await producer.start()
        stack.push_async_callback(producer.stop)
        worker = InboundWorker(
            settings,
            producer,
            stub(id_grpc.IdentityServiceStub, settings.identity_addr),
            stub(conv_grpc.ConversationServiceStub, settings.conversation_addr),
            stub(agent_grpc.AgentServiceStub, settings.agent_addr),
        )
        freeze_startup_heap()
        # Each step retries and dead-letters on its own (see InboundWorker.handle): the loop
        # tries a record once and reads it again only if even its dead letter failed.
        await consume(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            [topics.INCOMING],
            worker.handle,
            stop,
            grace_s=settings.grace_period_s,
            drain_s=settings.rebalance_drain_s,
            # A message that waits on the agent holds up its sender only: with one partition
            # per sender group, a slow reply held every sender hashed to its partition (at 50
            # senders the bench's p95 was 3x its median).
            key=lambda record: record.key,
            max_in_flight=settings.worker_max_in_flight or None,
        )
        log.info("inbound worker stopped: it left the group")
    shutdown_tracing()
