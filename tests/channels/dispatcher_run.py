"""The real dispatcher (`run_dispatcher`: every channel's consumer, the senders, the DLQ) run in
this process against the test stack's Kafka and the in-process ConversationService over gRPC,
with Gmail and Twilio pointed at the local fakes. Each run has topics of its own (a prefix), so
runs never see each other's records on the shared broker.

Tickets and replies are made as the worker makes them: RecordInbound opens the ticket,
RecordOutbound stores the reply (pending), then the OutboundMessage is published."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from devstack import kafka as devkafka
from services.channels.outbound_dispatcher import DispatcherSettings, DispatcherTopics, run_dispatcher
from services.channels.resilience import BreakerRegistry
from services.channels.settings import ChannelSettings
from services.common import channels as channel_names
from services.common.kafka import new_producer, publish
from tests import polling

T = TypeVar("T")

CHANNELS = channel_names.VALUES


async def until(probe: Callable[[], T | Awaitable[T]], what: str, timeout: float = 60) -> T:
    return await polling.until(probe, what, timeout, every=0.1)


@dataclass
class Ticket:
    ticket_id: str
    customer_id: str
    channel: int


@dataclass
class DispatcherRun:
    names: DispatcherTopics
    producer: AIOKafkaProducer
    conversation: object  # ConversationServiceStub
    task: asyncio.Task
    _dlq: AIOKafkaConsumer
    dead: list[events_pb2.DeadLetter] = field(default_factory=list)

    async def open_ticket(self, channel: int, content: str = "Where is my board?") -> Ticket:
        customer_id = str(uuid.uuid4())
        opened = await self.conversation.RecordInbound(
            conv_pb.RecordInboundRequest(
                customer_id=customer_id,
                channel=channel,
                idempotency_key=f"in-{uuid.uuid4().hex}",
                content=content,
                subject="Board question",
            )
        )
        return Ticket(opened.ticket_id, customer_id, channel)

    async def reply(
        self,
        ticket: Ticket,
        text: str,
        *,
        email: str = "",
        phone: str = "",
        reply_id: str | None = None,
        last_inbound: datetime | None = None,
        **fields,
    ) -> events_pb2.OutboundMessage:
        """Records the reply as the worker does and returns its OutboundMessage (not yet published)."""
        reply_id = reply_id or f"reply-{uuid.uuid4().hex}"
        await self.conversation.RecordOutbound(
            conv_pb.RecordOutboundRequest(
                ticket_id=ticket.ticket_id,
                content=text,
                channel=ticket.channel,
                reply_id=reply_id,
                role=conv_pb.MESSAGE_ROLE_AGENT,
                delivery_status=conv_pb.DELIVERY_STATUS_PENDING,
            )
        )
        message = events_pb2.OutboundMessage(
            reply_id=reply_id,
            ticket_id=ticket.ticket_id,
            customer_id=ticket.customer_id,
            channel=ticket.channel,
            recipient=events_pb2.Recipient(email=email, phone=phone, display_name="Ana Silva"),
            parts=[text],
            subject="Re: Board question",
            **fields,
        )
        message.customer_last_inbound_time.FromDatetime(last_inbound or datetime.now(timezone.utc))
        return message

    async def publish(self, channel: int, message: events_pb2.OutboundMessage | bytes, key: str = "k") -> None:
        topic = self.names.outbound(channel)
        if isinstance(message, bytes):
            await self.producer.send_and_wait(topic, value=message, key=key.encode())
        else:
            await publish(self.producer, topic, key, message)

    async def dead_letters(self, n: int, timeout: float = 60) -> list[events_pb2.DeadLetter]:
        """Waits until at least `n` dead letters were published; returns all of them."""

        async def enough() -> bool:
            for records in (await self._dlq.getmany(timeout_ms=100)).values():
                self.dead.extend(events_pb2.DeadLetter.FromString(r.value) for r in records)
            if self.task.done():
                self.task.result()  # surface a crash of the dispatcher
            return len(self.dead) >= n

        await until(enough, f"{n} dead letter(s)", timeout)
        return list(self.dead)

    async def delivery(self, ticket: Ticket, reply_id: str) -> int:
        view = await self.conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket.ticket_id))
        return next(m.delivery_status for m in view.messages if m.reply_id == reply_id)

    async def delivered(self, ticket: Ticket, reply_id: str, status: int, timeout: float = 60) -> None:
        async def reached() -> bool:
            if self.task.done():
                self.task.result()
            return await self.delivery(ticket, reply_id) == status

        await until(reached, f"reply {reply_id} to be {conv_pb.DeliveryStatus.Name(status)}", timeout)

    async def escalations(self, ticket: Ticket) -> list[conv_pb.Escalation]:
        view = await self.conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket.ticket_id))
        return list(view.escalations)


@contextlib.asynccontextmanager
async def running_dispatcher(
    bootstrap: str,
    conversation_address: str,
    conversation,
    channels: ChannelSettings,
    registry: BreakerRegistry,
    **settings: object,
) -> AsyncIterator[DispatcherRun]:
    run = uuid.uuid4().hex[:8]
    names = DispatcherTopics(prefix=f"test.{run}.")
    await devkafka.ensure_topics(
        bootstrap,
        {
            **{names.outbound(c): 1 for c in CHANNELS},
            names.dlq: 1,
            names.email_notifications: 1,
            names.incoming: 1,
        },
    )
    dispatcher_settings = DispatcherSettings(
        _env_file=None,
        kafka_bootstrap_servers=bootstrap,
        conversation_addr=conversation_address,
        consumer_group_prefix=f"test-dispatcher-{run}",
        **{"max_attempts": 3, "retry_initial_s": 0.05, "retry_max_s": 0.2, **settings},
    )
    channels = channels.model_copy(update={"gmail_ingest_group": f"test-gmail-ingest-{run}"})
    producer = new_producer(bootstrap, f"test-{run}")
    await producer.start()
    dlq = AIOKafkaConsumer(names.dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await dlq.start()
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(dispatcher_settings, channels, stop, names=names, registry=registry))
    try:
        yield DispatcherRun(names, producer, conversation, task, dlq)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 60)
        finally:
            await dlq.stop()
            await producer.stop()
