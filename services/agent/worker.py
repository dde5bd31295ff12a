"""The inbound worker: drives one customer message through the services.

fte.tickets.incoming → ResolveCustomer → RecordInbound (ticket first) → Respond →
RecordOutbound (pending) → publish to fte.channels.<ch>.outbound (+ fte.escalations) → commit.

At-least-once in, exactly-once as the customer sees it: every write downstream is keyed
(idempotency key, ticket id, reply id derived from the idempotency key), so a redelivered
record changes nothing. The offset is committed only after a record is fully handled; records
of one partition are handled in order (the key is the sender, so one customer's messages are
ordered), partitions concurrently. A record that keeps failing goes to fte.dlq, the customer
gets an apology and a human — it never blocks its partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from google.protobuf.message import DecodeError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from services.common import topics
from services.common.config import Settings
from services.common.grpc_client import open_channel
from services.common.kafka import new_producer, processing, publish
from services.common.logs import setup_logging
from services.common.retry import is_transient
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


class WorkerSettings(Settings):
    consumer_group: str = "fte-inbound-worker"
    max_attempts: int = 5
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    respond_timeout_s: float = 60.0


def reply_id_for(idempotency_key: str, suffix: str = "") -> str:
    return str(uuid.uuid5(_REPLY_NS, idempotency_key + suffix))


class StageFailed(Exception):
    """A step failed for good (permanent error, or transient past the retry budget)."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        detail = cause.details() if isinstance(cause, grpc.aio.AioRpcError) else repr(cause)
        code = cause.code().name if isinstance(cause, grpc.aio.AioRpcError) else type(cause).__name__
        super().__init__(f"{stage}: {code}: {detail}")
        self.stage = stage


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

    async def _step(self, stage: str, call, *args, **kwargs):
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_transient),
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=wait_exponential_jitter(
                    multiplier=self.settings.retry_initial_s,
                    max=self.settings.retry_max_s,
                    jitter=self.settings.retry_initial_s,
                ),
                reraise=True,
            ):
                with attempt:
                    return await call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
            raise StageFailed(stage, exc) from exc

    async def handle(self, record: ConsumerRecord) -> str:
        """Handles one record completely. Returns replied | escalated | silenced | dead_letter."""
        with processing(record, self.settings.consumer_group) as span:
            known = _Known()
            try:
                event = events_pb2.InboundMessage.FromString(record.value or b"")
                if not event.idempotency_key or not event.channel:
                    raise ValueError("event has no idempotency_key or channel")
            except (DecodeError, ValueError) as exc:
                await self._dead_letter(record, "decode", repr(exc), None, known)
                span.set_attribute("fte.outcome", "dead_letter")
                return "dead_letter"
            span.set_attribute("fte.idempotency_key", event.idempotency_key)
            try:
                outcome = await self._drive(event, known)
            except StageFailed as failure:
                log.warning("message %s failed: %s", event.idempotency_key, failure)
                await self._dead_letter(record, failure.stage, str(failure), event, known)
                outcome = "dead_letter"
            span.set_attribute("fte.outcome", outcome)
            return outcome

    async def _drive(self, event: events_pb2.InboundMessage, known: _Known) -> str:
        resolved = await self._step(
            "resolve_customer",
            self.identity.ResolveCustomer,
            id_pb.ResolveCustomerRequest(
                channel=event.channel,
                email=event.sender.email,
                phone=event.sender.phone,
                whatsapp=event.sender.whatsapp,
                display_name=event.sender.display_name,
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
                content=event.content,
                subject=event.subject,
                thread_ref=event.thread.thread_id or event.thread.message_id,
                sender_name=event.sender.display_name,
                category=event.category,
                priority=event.priority,
                requested_ticket_id=event.ticket_id,
                receive_time=event.receive_time if event.HasField("receive_time") else None,
            ),
        )
        known.ticket_id, known.conversation_id = recorded.ticket_id, recorded.conversation_id
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
                customer_name=resolved.customer.display_name or event.sender.display_name,
                message_id=recorded.message_id,
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

    async def _publish_reply(self, event, known, reply_id, parts, html, subject, escalated):
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
        )
        message.create_time.GetCurrentTime()
        if event.HasField("receive_time"):
            message.customer_last_inbound_time.CopyFrom(event.receive_time)
        await publish(self.producer, topics.outbound_topic(event.channel), known.customer_id, message)

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

    async def _dead_letter(self, record, stage, error, event, known: _Known) -> None:
        """Park the original record in fte.dlq; then, best effort, apologise and hand over.

        The dead letter is written first and must succeed (it is retried until Kafka takes it):
        only then is the offset committed, so nothing is lost."""
        letter = events_pb2.DeadLetter(
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key or b"",
            payload=record.value or b"",
            error=error[:2000],
            attempts=self.settings.max_attempts,
            stage=stage,
            idempotency_key=event.idempotency_key if event else "",
        )
        letter.fail_time.GetCurrentTime()
        async for attempt in AsyncRetrying(wait=wait_exponential_jitter(multiplier=0.5, max=10), reraise=True):
            with attempt:
                await publish(self.producer, topics.DLQ, (record.key or b"").decode(errors="replace"), letter)
        if event is None or not known.ticket_id:
            return  # nothing to answer on, or no ticket to hand over: the DLQ holds it for people
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
            apology_id = reply_id_for(event.idempotency_key, ":apology")
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
            await self._step(
                "publish_escalation",
                self._publish_escalation,
                event,
                known,
                conv_pb.ESCALATION_REASON_PROCESSING_ERROR,
                f"{stage} failed",
            )


async def consume(
    consumer: AIOKafkaConsumer, handle, stop: asyncio.Event, batch_ms: int = 500
) -> None:
    """Fetch, handle partitions concurrently and each partition in order, commit per record.

    On stop: no new fetch; what was fetched is finished and committed; the caller then stops
    the consumer, which leaves the group."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=batch_ms, max_records=100)

        async def run_partition(tp: TopicPartition, records: list[ConsumerRecord]) -> None:
            for record in records:
                await handle(record)
                await consumer.commit({tp: record.offset + 1})

        await asyncio.gather(*(run_partition(tp, recs) for tp, recs in batches.items()))


async def main() -> None:
    settings = WorkerSettings()
    setup_logging("worker", settings.log_level)
    setup_tracing("worker", settings.otel_exporter_otlp_endpoint)
    stop = stop_on_signals()
    async with contextlib.AsyncExitStack() as stack:
        channels = {}
        for name, addr in (
            ("identity", settings.identity_addr),
            ("conversation", settings.conversation_addr),
            ("agent", settings.agent_addr),
        ):
            channels[name] = open_channel(addr, settings.rpc_timeout_s)
            stack.push_async_callback(channels[name].close)
        producer = new_producer(settings.kafka_bootstrap_servers, "inbound-worker")
        await producer.start()
        stack.push_async_callback(producer.stop)
        consumer = AIOKafkaConsumer(
            topics.INCOMING,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        worker = InboundWorker(
            settings,
            producer,
            id_grpc.IdentityServiceStub(channels["identity"]),
            conv_grpc.ConversationServiceStub(channels["conversation"]),
            agent_grpc.AgentServiceStub(channels["agent"]),
        )
        log.info("inbound worker consuming %s as %s", topics.INCOMING, settings.consumer_group)
        await consume(consumer, worker.handle, stop)
        log.info("inbound worker stopping: in-flight records finished and committed")
    shutdown_tracing()


if __name__ == "__main__":
    asyncio.run(main())
