"""The real notifier (`services.handoff.notifier.run`) in this process, on topics of its own on
the test stack's Kafka, with its own schema's role, the in-process identity and conversation
services called with the notifier's service key, and a local webhook receiver per run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb

from devstack import kafka as devkafka
from devstack import migrate
from services.common.kafka import new_producer, publish
from services.common.teams import TEAMS
from services.handoff.notification import Destination, Routes
from services.handoff.notifier import NotifierSettings, run
from tests import polling
from tests.fakes.webhook import FakeWebhook
from tests.running_services import unique_us_phone

PUBLIC_BASE = "https://support.flowboard.example"


@dataclass
class Escalated:
    event: events_pb2.Escalation
    stored_escalation_id: str
    phone: str


@dataclass
class NotifierRun:
    settings: NotifierSettings
    producer: AIOKafkaProducer
    webhook: FakeWebhook
    conversation: object
    identity: object
    task: asyncio.Task | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def escalate(self, reason: int = conv_pb.ESCALATION_REASON_PRICING,
                       content: str = "How much is the Business plan for 40 seats?",
                       note: str = "Asked for a quote; prices are for sales.") -> Escalated:
        """A real customer, ticket and stored escalation, as the worker and the agent make them;
        the Escalation event is returned, not published."""
        _, phone = unique_us_phone()
        customer = (await self.identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
            channel=channel_pb2.CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{phone}", display_name="Ana Silva"))).customer
        opened = await self.conversation.RecordInbound(conv_pb.RecordInboundRequest(
            customer_id=customer.customer_id, channel=channel_pb2.CHANNEL_WHATSAPP,
            idempotency_key=f"SM{uuid.uuid4().hex}", content=content))
        stored = (await self.conversation.Escalate(conv_pb.EscalateRequest(
            ticket_id=opened.ticket_id, reason=reason, note=note))).escalation
        event = events_pb2.Escalation(
            escalation_id=str(uuid.uuid4()), ticket_id=opened.ticket_id, customer_id=customer.customer_id,
            conversation_id=opened.conversation_id, channel=channel_pb2.CHANNEL_WHATSAPP, reason=reason, note=note)
        return Escalated(event, stored.escalation_id, phone)

    async def publish(self, event: events_pb2.Escalation | bytes, key: str = "") -> None:
        if isinstance(event, bytes):
            await self.producer.send_and_wait(self.settings.escalations_topic, value=event, key=b"poison")
        else:
            await publish(self.producer, self.settings.escalations_topic, key or event.customer_id, event)

    def start(self, group: str | None = None) -> None:
        """Starts the notifier (again, after `finish`), in `group` or the run's own."""
        settings = self.settings.model_copy(update={"consumer_group": group}) if group else self.settings
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(run(settings, self.stop, routes=self.routes))

    async def until(self, probe, what: str, timeout: float = 60):
        async def check():
            if self.task is not None and self.task.done():
                self.task.result()  # surface a crash
            found = probe()
            return (await found) if asyncio.iscoroutine(found) else found

        return await polling.until(check, what, timeout, every=0.1)

    async def finish(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
            self.task = None

    async def read(self, topic: str, seconds: float = 2.0) -> list:
        reader = AIOKafkaConsumer(topic, bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                  auto_offset_reset="earliest")
        await reader.start()
        try:
            found = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            while loop.time() < deadline:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    found.extend(records)
            return found
        finally:
            await reader.stop()

    async def emails(self, seconds: float = 2.0) -> list[events_pb2.OutboundMessage]:
        return [events_pb2.OutboundMessage.FromString(r.value)
                for r in await self.read(self.settings.email_topic, seconds)]

    async def dead_letters(self, seconds: float = 2.0) -> list[events_pb2.DeadLetter]:
        return [events_pb2.DeadLetter.FromString(r.value) for r in await self.read(self.settings.dlq_topic, seconds)]

    @property
    def routes(self) -> Routes:
        return Routes(TEAMS, {
            "sales": Destination("sales", TEAMS.emails["sales"], self.webhook.hook_url("/hooks/sales")),
            "billing": Destination("billing", TEAMS.emails["billing"]),
            "legal": Destination("legal", ""),  # notified nowhere
            "support": Destination("support", "", self.webhook.hook_url("/hooks/support")),
        })


@contextlib.asynccontextmanager
async def notifier_run(stack, conversation_address: str, identity_address: str, service_keys: dict[str, str],
                       conversation, identity, *, start: bool = True, **overrides) -> AsyncIterator[NotifierRun]:
    prefix = f"test.{uuid.uuid4().hex[:8]}."
    settings = NotifierSettings(
        _env_file=None,
        database_url=migrate.service_dsn(stack.admin_dsn, "notifier"),
        kafka_bootstrap_servers=stack.bootstrap_servers,
        conversation_addr=conversation_address,
        identity_addr=identity_address,
        service_key=service_keys["notifier"],
        consumer_group=f"{prefix}notifier",
        escalations_topic=f"{prefix}fte.escalations",
        dlq_topic=f"{prefix}fte.escalations.dlq",
        email_topic=f"{prefix}fte.channels.email.outbound",
        public_base_url=PUBLIC_BASE,
        metrics_port=0,
        # Fast, few retries: the tests wait for outcomes, not backoff.
        max_attempts=3,
        retry_initial_s=0.05,
        retry_max_s=0.2,
        webhook_timeout_s=2.0,
        **overrides,
    )
    await devkafka.ensure_topics(stack.bootstrap_servers, {
        settings.escalations_topic: 1, settings.dlq_topic: 1, settings.email_topic: 1})
    producer = new_producer(stack.bootstrap_servers, "test-notifier")
    await producer.start()
    with FakeWebhook() as webhook:
        notifier = NotifierRun(settings, producer, webhook, conversation, identity)
        if start:
            notifier.start()
        try:
            yield notifier
        finally:
            await notifier.finish()
            await producer.stop()
