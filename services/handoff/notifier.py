"""The escalation notifier: consumes fte.escalations and tells the owning team, by email (an
OutboundMessage on the email channel's outbound topic, sent by the dispatcher's Gmail sender)
and/or by an HTTP webhook (JSON, Slack-compatible).

A separate consumer group: the inbound worker only publishes the Escalation (and waits for
Kafka's ack, never for this process), so a notification outage cannot delay a customer's reply.

Per record (`Notifier.handle`), tried as `Notifier.retry` says by the shared consume loop:
1. decode; a record that is no Escalation is dead-lettered at once (`MalformedEscalation`);
2. route: the reason's team (teams.toml), its email and webhook (TEAM_<NAME>_* override);
3. ask the notifier's schema which (team, transport) of this escalation went out already, and
   send only the others: a redelivered record notifies once;
4. the context over gRPC with the notifier's own service key: GetTicket, GetHistory,
   GetCustomer. A call refused for good (NOT_FOUND, PERMISSION_DENIED, ...) leaves its part
   out, named in the notification; a transient failure fails the attempt;
5. each pending delivery is sent and then recorded; one failing does not stop the others.

Failures: a transient one (webhook 5xx/429/timeout, Kafka, gRPC DEADLINE_EXCEEDED, ...) is
retried MAX_ATTEMPTS times with backoff (`Settings.retry_policy`), then the record goes to
fte.escalations.dlq; an outage (ConversationService or the notifier's database unreachable)
waits, uncommitted, as long as it lasts; a permanent one (webhook 4xx, malformed record) goes to
the DLQ at once. The partition moves on after the dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
import grpc
import httpx
from aiokafka import AIOKafkaProducer, ConsumerRecord
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from prometheus_client import Counter

from services.common import topics
from services.common.config import Settings
from services.common.consumer import consume
from services.common.db import owned_pool
from services.common.dead_letters import DeadLetters
from services.common.heap import freeze_startup_heap
from services.common.kafka import new_producer, processing, publish
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.retry import is_transient
from services.common.signals import stop_on_signals
from services.common.teams import TEAMS
from services.common.telemetry import setup_tracing, shutdown_tracing
from services.handoff.notification import (
    EMAIL,
    Delivery,
    MalformedEscalation,
    Notification,
    Routes,
    build,
    context_from,
    decode,
    delivery_id,
    email_message,
    pending,
    routes_from,
    webhook_body,
)
from services.handoff.store import SentNotifications

log = logging.getLogger(__name__)

SENT = Counter("fte_notifier_sent_total", "Team notifications sent", ["team", "transport"])
FAILED = Counter("fte_notifier_failed_total", "Team notification attempts that failed", ["team", "transport"])
DEAD_LETTERED = Counter(
    "fte_notifier_dead_lettered_total", "Team notifications given up on (their escalation is in the DLQ)",
    ["team", "transport"])


class NotifierSettings(Settings):
    consumer_group: str = "fte-notifier"
    escalations_topic: str = topics.ESCALATIONS
    dlq_topic: str = topics.ESCALATIONS_DLQ
    email_topic: str = topics.outbound_topic(channel_pb2.CHANNEL_EMAIL)
    # The same variable as the channels' (services/channels/settings.py): the inbox links in
    # notifications start with it.
    public_base_url: str = ""
    # Prometheus /metrics at http://<GRPC_HOST>:<METRICS_PORT>/metrics (the shared setting, served
    # by default here: it is also the notifier's liveness probe); 0: not served.
    metrics_port: int = 50057
    # The customer's last messages (all channels) a notification shows.
    history_limit: int = 10
    webhook_timeout_s: float = 10.0
    # A record's transient failures before it is dead-lettered (~15 s of backoff by default).
    max_attempts: int = 5
    retry_initial_s: float = 0.5
    retry_max_s: float = 5.0
    # How long Kafka may refuse a dead letter before the record is left uncommitted.
    dlq_publish_timeout_s: float = 30.0
    db_pool_max: int = 2


class WebhookFailed(Exception):
    """The webhook answered with an error status. The URL is not in the message: webhook URLs
    (Slack's) are secrets."""

    def __init__(self, status: int) -> None:
        super().__init__(f"webhook answered HTTP {status}")
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status in (408, 425, 429) or self.status >= 500


class StoreUnavailable(ConnectionError):
    """The notifier's database cannot be reached: an outage, waited out."""


class NotificationsFailed(Exception):
    """Some deliveries of one escalation failed (the others went out and were recorded)."""

    def __init__(self, failures: list[tuple[Delivery, BaseException]]) -> None:
        super().__init__("; ".join(f"{d.team}/{d.transport}: {describe(e)}" for d, e in failures))
        self.failures = failures


def describe(exc: BaseException) -> str:
    """An error as logs and dead letters show it: never a URL or an address."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, (WebhookFailed, MalformedEscalation, NotificationsFailed)):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__  # httpx and Kafka errors may quote the URL or the broker


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, NotificationsFailed):
        return any(is_retryable(e) for _, e in exc.failures)
    if isinstance(exc, WebhookFailed):
        return exc.transient
    if isinstance(exc, httpx.TransportError):  # connect, read, timeouts
        return True
    return is_transient(exc)


def is_outage(exc: BaseException) -> bool:
    """Nothing is wrong with the record: a dependency of every record is down."""
    if isinstance(exc, StoreUnavailable):
        return True
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


@contextlib.asynccontextmanager
async def _store_call():
    try:
        yield
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


class Notifier:
    def __init__(
        self,
        settings: NotifierSettings,
        *,
        producer: AIOKafkaProducer,
        conversation: conv_grpc.ConversationServiceStub,
        identity: id_grpc.IdentityServiceStub,
        http: httpx.AsyncClient,
        store: SentNotifications,
        routes: Routes | None = None,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.conversation = conversation
        self.identity = identity
        self.http = http
        self.store = store
        self.routes = routes or routes_from(TEAMS)
        self.dead_letters = DeadLetters(producer, settings.dlq_topic)
        self.retry = settings.retry_policy(retry_on=is_retryable, outage=is_outage, log_as="notification")

    async def handle(self, record: ConsumerRecord) -> str:
        """One attempt at one escalation: notified | duplicate | no_destination; raises when a
        delivery failed (the ones that went out are recorded and not sent again)."""
        with processing(record, self.settings.consumer_group) as span:
            event = decode(record.value)
            span.set_attribute("fte.escalation_id", event.escalation_id)
            team = self.routes.team_for(event.reason)
            span.set_attribute("fte.team", team)
            deliveries = self.routes.destination(team).deliveries()
            if not deliveries:
                log.warning("team %s has no email nor webhook: escalation %s notifies nobody",
                            team, event.escalation_id)
                span.set_attribute("fte.outcome", "no_destination")
                return "no_destination"
            async with _store_call():
                todo = pending(deliveries, await self.store.sent(event.escalation_id))
            if not todo:
                span.set_attribute("fte.outcome", "duplicate")
                return "duplicate"
            notification = build(event, team, await self._context(event), self.settings.public_base_url)
            failures: list[tuple[Delivery, BaseException]] = []
            for delivery in todo:
                try:
                    await self._send(notification, delivery)
                except Exception as exc:  # noqa: BLE001 - the others still go; this one is retried
                    FAILED.labels(delivery.team, delivery.transport).inc()
                    log.warning("escalation %s: %s to team %s failed: %s",
                                event.escalation_id, delivery.transport, team, describe(exc))
                    failures.append((delivery, exc))
                    continue
                async with _store_call():
                    await self.store.record(event.escalation_id, team, delivery.transport, event.ticket_id)
                SENT.labels(delivery.team, delivery.transport).inc()
                log.info("escalation %s: team %s notified by %s", event.escalation_id, team, delivery.transport)
            if failures:
                span.set_attribute("fte.outcome", "failed")
                raise NotificationsFailed(failures)
            span.set_attribute("fte.outcome", "notified")
            return "notified"

    async def _context(self, event: events_pb2.Escalation):
        ticket = await self._optional(event, "ticket", self.conversation.GetTicket,
                                      conv_pb.GetTicketRequest(ticket_id=event.ticket_id))
        history = customer = None
        if event.customer_id:
            history = await self._optional(
                event, "history", self.conversation.GetHistory,
                conv_pb.GetHistoryRequest(customer_id=event.customer_id, limit=self.settings.history_limit))
            customer = await self._optional(event, "customer", self.identity.GetCustomer,
                                            id_pb.GetCustomerRequest(customer_id=event.customer_id,
                                                                     view=id_pb.CUSTOMER_VIEW_BASIC))
        return context_from(event, ticket, history, customer)

    async def _optional(self, event, what: str, call, request):
        """The answer, or None when the call is refused for good (the notification goes out
        without that part, and says so); a transient error fails the attempt."""
        try:
            return await call(request)
        except grpc.aio.AioRpcError as exc:
            if is_transient(exc):
                raise
            log.warning("escalation %s: no %s for the notification (%s)", event.escalation_id, what,
                        exc.code().name)
            return None

    async def _send(self, notification: Notification, delivery: Delivery) -> None:
        if delivery.transport == EMAIL:
            # Keyed like every outbound record, by customer (the escalation's when there is none).
            key = notification.customer_id or notification.escalation_id
            await publish(self.producer, self.settings.email_topic, key, email_message(notification, delivery))
            return
        response = await self.http.post(
            delivery.target,
            json=webhook_body(notification),
            headers={"Idempotency-Key": delivery_id(notification, delivery)},
            timeout=self.settings.webhook_timeout_s,
        )
        if response.status_code >= 300:
            raise WebhookFailed(response.status_code)

    async def dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        """Parks the escalation in the notifier's DLQ (retried until Kafka takes it, or raises
        after DLQ_PUBLISH_TIMEOUT_S so the record is read again); counts what was given up."""
        event = None
        with contextlib.suppress(MalformedEscalation):
            event = decode(record.value)
        if isinstance(exc, NotificationsFailed):
            given_up = [(d.team, d.transport) for d, _ in exc.failures]
        elif event is not None:
            team = self.routes.team_for(event.reason)
            given_up = [d.key for d in self.routes.destination(team).deliveries()]
        else:
            given_up = [("unknown", "none")]
        await self.dead_letters.park(
            record,
            stage="decode" if isinstance(exc, MalformedEscalation) else "notify",
            error=describe(exc),
            attempts=attempts,
            idempotency_key=event.escalation_id if event else "",
            give_up_after_s=self.settings.dlq_publish_timeout_s,
        )
        for team, transport in given_up:
            DEAD_LETTERED.labels(team, transport).inc()


async def run(settings: NotifierSettings, stop: asyncio.Event, routes: Routes | None = None) -> None:
    """Consumes escalations until `stop`: the database pool, producer, gRPC channels and HTTP
    client are opened here and closed on the way out."""
    async with contextlib.AsyncExitStack() as resources:
        pool = await owned_pool(resources, settings, "notifier", session_state=False)
        producer = new_producer(settings.kafka_bootstrap_servers, "notifier")
        await producer.start()
        resources.push_async_callback(producer.stop)
        http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        resources.push_async_callback(http.aclose)
        notifier = Notifier(
            settings,
            producer=producer,
            conversation=conv_grpc.ConversationServiceStub(settings.channel(resources, settings.conversation_addr)),
            identity=id_grpc.IdentityServiceStub(settings.channel(resources, settings.identity_addr)),
            http=http,
            store=SentNotifications(pool),
            routes=routes,
        )
        await consume(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            [settings.escalations_topic],
            notifier.handle,
            stop,
            grace_s=settings.grace_period_s,
            drain_s=settings.rebalance_drain_s,
            retry=notifier.retry,
            dead_letter=notifier.dead_letter,
            max_records=50,
        )


async def main() -> None:
    settings = NotifierSettings()
    setup_logging("notifier", settings.log_level)
    # httpx logs every request's URL at INFO; a chat webhook's URL is its secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    setup_tracing("notifier", settings.otel_exporter_otlp_endpoint)
    stop = stop_on_signals()
    metrics = serve_metrics(settings.metrics_port, settings.grpc_host) if settings.metrics_port else None
    routes = routes_from(TEAMS)
    for team, destination in sorted(routes.destinations.items()):
        # Which transports each team has, never the address or URL.
        log.info("team %s: %s", team, ", ".join(d.transport for d in destination.deliveries()) or "not notified")
    freeze_startup_heap()
    try:
        await run(settings, stop, routes)
        log.info("notifier stopped: it left the group")
    finally:
        if metrics is not None:
            metrics.close()
        shutdown_tracing()
