"""The HTTP edge: validates what customers send, publishes it to Kafka, answers 202 only after
the broker's ack, or after keeping it in the edge's outbox while Kafka cannot take it (outbox.py).
Reads (ticket status, conversations, customers, metrics) go to the services over gRPC. The
outbox is the only table the edge touches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timezone

import grpc
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc
from google.protobuf.json_format import MessageToDict
from limits import parse as parse_limit
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics

from services.channels.settings import ChannelSettings
from services.channels.whatsapp import record_delivery_status
from services.common import channels as channel_names
from services.common import topics
from services.common.db import owned_pool
from services.common.kafka import new_producer
from services.common.metrics import EDGE_OUTBOX_MESSAGES, exposition, zero
from services.common.retry import RetryPolicy
from services.common.auth import VIEWER, RemoteGate
from services.edge.auth import as_caller, require_role
from services.edge.webhooks import create_webhook_router
from services.edge.inbox import create_inbox_router
from services.edge.forms import SubmissionAccepted, SupportSubmission, TicketMessage, TicketView
from services.edge.identity_token import token_matches
from services.edge.outbox import OUTBOX_ERRORS, EdgePublisher, Outbox, Unavailable
from services.edge.rate_limits import EdgeRateLimiter
from services.edge.settings import EdgeSettings

log = logging.getLogger(__name__)

INCOMING_TOPIC = topics.INCOMING
# Ticket ids derived from a client's Idempotency-Key, so a retried POST names the same ticket.
_TICKET_NS = uuid.UUID("5d1e6c8a-3f0b-4c55-9d43-2a7f0c7e9b11")

SUBMISSIONS = Counter("fte_edge_submissions_total", "Support form submissions", ["outcome"])
_ACCEPTED = SUBMISSIONS.labels("accepted")  # every submit's: looked up once
# prometheus-fastapi-instrumentator's series, registered once per process: every app made here
# (tests make many) records into them; left to itself, the instrumentator would find them
# registered for a second app and leave that app uncounted. The two the dashboards and alerts
# read, as its default set names them; the rest of that set (request and response sizes, a
# second latency histogram) cost ~25 µs per request and were read by nobody.
HTTP_METRICS = (
    http_metrics.requests(),
    http_metrics.latency(should_include_status=False, buckets=(0.1, 0.5, 1)),
)

# FastAPI's own OpenTelemetry instrumentation: one server span per request ("POST /support/
# submit", its route, method, status), a child of the caller's traceparent, whenever the process
# has a tracer provider (__main__ sets it up). No spans for dependency resolution, the endpoint and
# serialization: they would triple the spans of a submit. No OTel metrics or logs: the metrics are
# Prometheus's (HTTP_METRICS), the logs the process's own. Health, readiness and scrapes untraced.
# The exporter is the one setup_tracing adds: FASTAPI_OTEL_AUTO_CONFIGURE would add a second.
_UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})
TELEMETRY = {
    "tracing": True,
    "operation_spans": False,
    "metrics": False,
    "logs": False,
    "auto_configure": False,
    "exclude": lambda scope: scope["path"] in _UNTRACED_PATHS,
}

_STATUS_NAMES = {
    conv_pb.TICKET_STATUS_OPEN: "open",
    conv_pb.TICKET_STATUS_PROCESSING: "processing",
    conv_pb.TICKET_STATUS_RESOLVED: "resolved",
    conv_pb.TICKET_STATUS_ESCALATED: "escalated",
}
_ROLE_NAMES = {
    conv_pb.MESSAGE_ROLE_CUSTOMER: "customer",
    conv_pb.MESSAGE_ROLE_AGENT: "agent",
    conv_pb.MESSAGE_ROLE_HUMAN: "human",
    conv_pb.MESSAGE_ROLE_SYSTEM: "system",
}


def _iso(ts) -> str | None:
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat() if ts.seconds else None


def _grpc_to_http(err: grpc.aio.AioRpcError) -> HTTPException:
    status = {
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.FAILED_PRECONDITION: 409,
        grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403,
    }.get(err.code(), 503)
    detail = err.details() if status != 503 else "a service is unavailable, try again shortly"
    return HTTPException(status_code=status, detail=detail)


def _form_assurance(form: SupportSubmission, email: str, settings: EdgeSettings) -> int:
    """VERIFIED with a valid identity token, CLAIMED without one. A token that does not prove the
    email is refused rather than downgraded: the host page meant to vouch, so something is wrong
    there (a stale token, the wrong secret) and it should hear so."""
    if not form.identity_token:
        return sender_assurance_pb2.SENDER_ASSURANCE_CLAIMED
    secret = settings.webform_identity_secret
    if secret is None or not secret.get_secret_value():
        SUBMISSIONS.labels("identity_token_refused").inc()
        raise HTTPException(400, "identity_token: this site does not accept identity tokens")
    if not token_matches(email, form.identity_token, secret.get_secret_value()):
        SUBMISSIONS.labels("identity_token_refused").inc()
        raise HTTPException(403, "identity_token: not valid for this email")
    return sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED


# Kafka unreachable at start-up is tried again until it answers, at most 2 s apart.
_RECONNECT = RetryPolicy(initial_s=0.5, max_s=2.0, retry_on=lambda exc: isinstance(exc, KafkaError))


class _Producer:
    """The edge's Kafka producer. The edge starts even when Kafka is down (it answers 503 and
    /ready says why) and connects as soon as Kafka is back."""

    def __init__(self, settings: EdgeSettings) -> None:
        self._settings = settings
        self.producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        try:
            await self._connect()
        except KafkaError:
            self._task = asyncio.create_task(_RECONNECT.call(self._connect))

    async def _connect(self) -> None:
        producer = new_producer(
            self._settings.kafka_bootstrap_servers,
            "edge",
            request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
        )
        try:
            await producer.start()
        except KafkaError as exc:
            log.warning("kafka not reachable yet: %s", type(exc).__name__)
            await producer.stop()
            raise
        self.producer = producer

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self.producer:
            # stop() flushes, and with Kafka away that never ends. What is still unsent then was
            # a send that timed out: its message is in the outbox (or its sender heard 503).
            try:
                await asyncio.wait_for(self.producer.stop(), self._settings.publish_timeout_s)
            except asyncio.TimeoutError:
                log.warning("kafka producer stopped with records unsent (Kafka unreachable)")


class _Clients:
    """gRPC stubs over channels the edge owns for its lifetime (closed with `resources`); calls
    carry the edge's service key unless a route passes the operator's (`as_caller`)."""

    def __init__(self, settings: EdgeSettings, resources: contextlib.AsyncExitStack) -> None:
        self.conversation_channel = settings.channel(resources, settings.conversation_addr)
        self.identity_channel = settings.channel(resources, settings.identity_addr)
        self.dispatcher_channel = settings.channel(resources, settings.dispatcher_addr)
        self.conversation = conv_grpc.ConversationServiceStub(self.conversation_channel)
        self.identity = id_grpc.IdentityServiceStub(self.identity_channel)


def create_app(settings: EdgeSettings | None = None, channels: ChannelSettings | None = None) -> FastAPI:
    settings = settings or EdgeSettings()
    channels = channels or ChannelSettings()
    limiter = EdgeRateLimiter(settings.rate_limit_storage_uri, settings.rate_limit_storage_timeout_s)
    per_ip = parse_limit(settings.rate_limit_per_ip)
    per_sender = parse_limit(settings.rate_limit_per_sender)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.kafka = _Producer(settings)
        await app.state.kafka.start()
        try:
            async with contextlib.AsyncExitStack() as resources:
                app.state.clients = _Clients(settings, resources)
                app.state.gate = RemoteGate(
                    settings.channel(resources, settings.access_addr), settings.auth_cache_ttl_s)
                zero(EDGE_OUTBOX_MESSAGES, ("stored", "relayed"))
                outbox = None
                if settings.database_url:
                    outbox = Outbox(await owned_pool(resources, settings, "edge"), settings.outbox_timeout_s)
                app.state.publisher = EdgePublisher(
                    lambda: app.state.kafka.producer, outbox, settings.publish_timeout_s, settings.relay_poll_s)
                stop_relay = asyncio.Event()
                relay = asyncio.create_task(app.state.publisher.run_relay(stop_relay))
                try:
                    yield
                finally:
                    stop_relay.set()
                    await relay
        finally:
            await app.state.kafka.stop()

    app = FastAPI(
        title="Flowboard Support FTE edge",
        description="Webhooks and the web support form in; ticket status out.",
        version="1.0.0",
        lifespan=lifespan,
        telemetry=TELEMETRY,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Idempotency-Key", "Authorization"],
    )

    # Every route people and tools use (not customers, not providers' webhooks) carries this:
    # a Bearer API key or OIDC JWT with at least role viewer. tests/edge/test_every_operator_route_
    # needs_a_credential.py walks the OpenAPI document, so a route added without it fails there.
    operators = [Depends(require_role(VIEWER))]

    app.add_middleware(BodyAndRateLimit, settings=settings, limiter=limiter, per_ip=per_ip)

    @app.post("/support/submit", status_code=202, response_model=SubmissionAccepted)
    async def submit(
        form: SupportSubmission,
        request: Request,
        idempotency_key: str | None = Header(default=None, max_length=200),
    ) -> SubmissionAccepted:
        sender = str(form.email).strip().lower()
        if not await limiter.hit(per_sender, "sender", sender):
            SUBMISSIONS.labels("rate_limited").inc()
            raise HTTPException(429, "too many submissions from this sender", {"Retry-After": "60"})
        if idempotency_key:
            key = f"web:{idempotency_key}"
            ticket_id = str(uuid.uuid5(_TICKET_NS, idempotency_key))
        else:
            ticket_id = str(uuid.uuid4())
            key = f"web:{ticket_id}"
        assurance = _form_assurance(form, sender, settings)
        event = events_pb2.InboundMessage(
            idempotency_key=key,
            channel=channel_pb2.CHANNEL_WEB_FORM,
            sender=events_pb2.Sender(
                email=sender, phone=form.phone or "", display_name=form.name, assurance=assurance
            ),
            content=form.message,
            subject=form.subject,
            category=form.category,
            ticket_id=ticket_id,
        )
        event.receive_time.GetCurrentTime()
        event.publish_time.CopyFrom(event.receive_time)
        try:
            await request.app.state.publisher.publish(INCOMING_TOPIC, sender, event)
        except Unavailable as exc:
            # Never accept what neither Kafka nor the outbox holds: the client retries later. A
            # send that timed out is not withdrawn (the idempotent producer keeps retrying it),
            # so it may still land: the retry with the same Idempotency-Key carries the same
            # ticket id and idempotency key, and the worker handles both as one message.
            SUBMISSIONS.labels("unavailable").inc()
            raise HTTPException(
                503,
                "we could not take your request right now; retry with the same Idempotency-Key",
                {"Retry-After": "5"},
            ) from exc
        _ACCEPTED.inc()
        return SubmissionAccepted(
            ticket_id=ticket_id,
            message=f"Thank you, {form.name}. We received your request.",
            expected_response_time=settings.expected_response_time,
        )

    @app.get("/support/ticket/{ticket_id}", response_model=TicketView)
    async def get_ticket(ticket_id: uuid.UUID, request: Request) -> TicketView:
        try:
            reply = await request.app.state.clients.conversation.GetTicket(
                conv_pb.GetTicketRequest(ticket_id=str(ticket_id))
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                # Accepted by the edge but not stored yet: the pipeline is on it.
                return TicketView(ticket_id=str(ticket_id), status="received")
            raise _grpc_to_http(err) from err
        t = reply.ticket
        messages = [
            TicketMessage(
                role=_ROLE_NAMES.get(m.role, "system"),
                channel=channel_names.BY_VALUE.get(m.channel, "unknown"),
                content=m.content,
                time=_iso(m.create_time) or "",
            )
            for m in reply.messages
        ]
        status = _STATUS_NAMES.get(t.status, "open")
        if status in ("open", "processing") and any(m.role != "customer" for m in messages):
            status = "answered"
        return TicketView(
            ticket_id=t.ticket_id,
            status=status,
            subject=t.subject,
            messages=messages,
            created_at=_iso(t.create_time),
            updated_at=_iso(t.update_time),
        )

    @app.get("/conversations/{conversation_id}", dependencies=operators)
    async def get_conversation(conversation_id: uuid.UUID, request: Request) -> dict:
        try:
            reply = await request.app.state.clients.conversation.GetConversation(
                conv_pb.GetConversationRequest(conversation_id=str(conversation_id)),
                metadata=as_caller(request),
            )
        except grpc.aio.AioRpcError as err:
            raise _grpc_to_http(err) from err
        return MessageToDict(reply, preserving_proto_field_name=True)

    @app.get("/customers/lookup", dependencies=operators)
    async def lookup_customer(
        request: Request,
        email: str | None = Query(default=None, max_length=254),
        phone: str | None = Query(default=None, max_length=32),
    ) -> dict:
        if not email and not phone:
            raise HTTPException(400, "give email or phone")
        try:
            reply = await request.app.state.clients.identity.LookupCustomer(
                id_pb.LookupCustomerRequest(email=email or "", phone=phone or ""),
                metadata=as_caller(request),
            )
        except grpc.aio.AioRpcError as err:
            raise _grpc_to_http(err) from err
        return MessageToDict(reply.customer, preserving_proto_field_name=True)

    @app.get("/metrics/channels", dependencies=operators)
    async def channel_metrics(request: Request) -> dict:
        try:
            reply = await request.app.state.clients.conversation.GetChannelMetrics(
                conv_pb.GetChannelMetricsRequest(), metadata=as_caller(request)
            )
        except grpc.aio.AioRpcError as err:
            raise _grpc_to_http(err) from err
        return MessageToDict(reply, preserving_proto_field_name=True)

    app.include_router(create_inbox_router(_grpc_to_http, settings))

    app.include_router(
        create_webhook_router(
            channels,
            lambda: app.state.publisher,
            on_delivery_status=lambda update: record_delivery_status(
                app.state.clients.conversation, update
            ),
        )
    )

    @app.get("/health")
    async def health(request: Request) -> dict:
        """Per-channel status: web_form is served here; email and WhatsApp are `disabled`, or
        `ok` / `degraded` as the dispatcher's circuit breakers report them."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        states = {"web_form": "ok"}
        stub = health_pb2_grpc.HealthStub(request.app.state.clients.dispatcher_channel)
        for name, enabled in (("email", channels.gmail_enabled), ("whatsapp", channels.whatsapp_enabled)):
            if not enabled:
                states[name] = "disabled"
                continue
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=f"fte.channels.{name}"), timeout=2)
                serving = reply.status == health_pb2.HealthCheckResponse.SERVING
                states[name] = "ok" if serving else "degraded"
            except grpc.aio.AioRpcError:
                states[name] = "unknown"
        overall = "ok" if all(v in ("ok", "disabled") for v in states.values()) else "degraded"
        return {"status": overall, "channels": states, "outbox": await _outbox_state(request)}

    async def _outbox_state(request: Request) -> dict:
        """depth: messages waiting for Kafka; oldest_age_s: how long the oldest has waited."""
        publisher: EdgePublisher = request.app.state.publisher
        if publisher.outbox is None:
            return {"state": "disabled", "depth": None, "oldest_age_s": None}
        try:
            depth = await publisher.look()
        except OUTBOX_ERRORS as exc:
            return {"state": f"unreachable: {type(exc).__name__}", "depth": None, "oldest_age_s": None}
        return {"state": "ok", "depth": depth.messages, "oldest_age_s": round(depth.oldest_age_s, 3)}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        checks: dict[str, str] = {}
        try:
            producer = request.app.state.kafka.producer
            if producer is None:
                raise KafkaConnectionError("not connected")
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
            checks["kafka"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["kafka"] = f"unreachable: {type(exc).__name__}"
        # Kafka away but the outbox reachable: messages are still taken (and relayed later), so
        # the edge stays in the Service. Were it unready, every replica would leave at once in a
        # Kafka outage and the providers would get connection errors instead of the outbox.
        outbox = await _outbox_state(request)
        if outbox["state"] != "disabled":
            checks["outbox"] = outbox["state"]
        takes_messages = checks["kafka"] == "ok" or checks.get("outbox") == "ok"
        for name, channel in (
            ("identity", request.app.state.clients.identity_channel),
            ("conversation", request.app.state.clients.conversation_channel),
        ):
            try:
                r = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
                checks[name] = "ok" if r.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
            except grpc.aio.AioRpcError as err:
                checks[name] = f"unreachable: {err.code().name}"
        ok = takes_messages and all(v == "ok" for k, v in checks.items() if k not in ("kafka", "outbox"))
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    # Open, like /health and /ready: Prometheus scrapes it without a credential, and it holds
    # only counters by outcome and webhook — no customer, ticket or message data. Keep it that
    # way (no labels carrying ids or addresses); restrict it by network where that matters.
    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    if settings.webform_dist_dir.is_dir():
        app.mount("/webform", _NoCacheStaticFiles(directory=settings.webform_dist_dir, html=True), name="webform")
    else:
        log.warning("web form not built (%s missing): /webform/ is not served", settings.webform_dist_dir)
    # After the /inbox/api routes, so the static mount never shadows them.
    if settings.inbox_dist_dir.is_dir():
        app.mount("/inbox", _NoCacheStaticFiles(directory=settings.inbox_dist_dir, html=True), name="inbox")
    else:
        log.warning("inbox not built (%s missing): /inbox/ is not served", settings.inbox_dist_dir)
    # HTTP at the edge, on /metrics with the rest: http_requests_total{handler, method, status}
    # (2xx / 4xx / 5xx) and http_request_duration_seconds{handler, method}, by route template
    # (never a ticket id). Added last, so it is the outermost middleware and counts the body and
    # rate limits' 413 / 429 too.
    Instrumentator(excluded_handlers=["/metrics", "/health", "/ready"]).add(*HTTP_METRICS).instrument(app)
    return app


class BodyAndRateLimit:
    """POST bodies over `max_body_bytes` get 413 and POSTs over the per-IP rate 429, before any
    routing or parsing. Plain ASGI: Starlette's `@app.middleware("http")` runs every request
    through a task group and memory streams, which the bench's flame graph showed costing the
    edge more than the submission itself."""

    def __init__(self, app, settings: EdgeSettings, limiter: EdgeRateLimiter, per_ip) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.limiter = limiter
        self.per_ip = per_ip

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        if declared.isdigit():
            size = int(declared)
        else:  # chunked: read and count, then hand the body on as it came
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body") or size > self.max_body:
                    break
            receive = _replay(messages, receive)
        if size > self.max_body:
            await JSONResponse({"detail": f"request body over {self.max_body} bytes"},
                               status_code=413)(scope, receive, send)
            return
        client_ip = scope["client"][0] if scope.get("client") else "unknown"
        # Webhooks are authenticated and come from a few provider addresses: not limited.
        if not scope["path"].startswith("/webhooks/") and not await self.limiter.hit(
                self.per_ip, "ip", client_ip):
            await JSONResponse({"detail": "too many requests from this address"}, status_code=429,
                               headers={"Retry-After": "60"})(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _replay(messages: list[dict], receive):
    """`receive` that first gives back the messages already read."""
    pending = list(messages)

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


class _NoCacheStaticFiles(StaticFiles):
    """embed.js keeps one name across releases, so browsers must revalidate it."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response
