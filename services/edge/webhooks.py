"""Channel webhooks for the edge: Twilio (WhatsApp messages and delivery statuses) and Pub/Sub
push (Gmail notifications).

Each request is authenticated before anything else (Twilio signature over the public URL;
Pub/Sub OIDC token or shared token), then normalised and published (`EdgePublisher.publish`, edge/outbox.py); the answer goes out
only after the broker's ack or, while Kafka cannot take it, once the edge's outbox holds it:
Twilio does not resend a WhatsApp message we refuse. Only when neither can take it: 503 +
Retry-After. A disabled channel's webhooks answer 404.

Wiring (edge app):

    router = create_webhook_router(
        channel_settings,
        get_publisher=lambda: app.state.publisher,
        on_delivery_status=lambda u: whatsapp.record_delivery_status(app.state.clients.conversation, u),
    )
    app.include_router(router)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import grpc
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from fte.common.v1 import channel_pb2
from google.protobuf.message import Message
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from services.channels import whatsapp
from services.channels.gmail import ingest as gmail
from services.channels.gmail.pubsub import PushAuthenticator, PushAuthUnavailable, PushRejected
from services.channels.settings import ChannelSettings
from services.channels.whatsapp import DeliveryStatusUpdate
from services.common import topics
from services.common.retry import is_transient
from services.edge.outbox import EdgePublisher, Unavailable

log = logging.getLogger(__name__)

WEBHOOKS = Counter("fte_edge_webhooks_total", "Channel webhook requests", ["webhook", "outcome"])
# Twilio reads TwiML from the answer; an empty <Response/> means "no immediate reply": the
# agent's answer goes out later through the Messages API.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

DeliveryStatusSink = Callable[[DeliveryStatusUpdate], Awaitable[object]]


def create_webhook_router(
    settings: ChannelSettings,
    get_publisher: Callable[[], EdgePublisher],
    *,
    on_delivery_status: DeliveryStatusSink | None = None,
    sink_timeout_s: float = 5.0,
    push_authenticator: PushAuthenticator | None = None,
) -> APIRouter:
    """The webhook routes. `get_publisher` is called per request (the publisher is made in the
    app's lifespan, after the router). `on_delivery_status` receives every final
    WhatsApp delivery report, e.g. to call ConversationService.UpdateDeliveryStatus."""
    router = APIRouter(tags=["webhooks"])
    authenticator = push_authenticator or PushAuthenticator(settings)

    async def publish_or_503(webhook: str, topic: str, key: str, event: Message) -> None:
        try:
            await get_publisher().publish(topic, key, event)
        except Unavailable as exc:
            # Never acknowledge what neither Kafka nor the outbox holds: 503 is the provider's
            # cue to retry (Pub/Sub does; Twilio does not, which is why the outbox exists).
            WEBHOOKS.labels(webhook, "unavailable").inc()
            log.warning("%s: message to %s not taken: %s", webhook, topic, exc)
            raise HTTPException(503, "temporarily unavailable, retry", {"Retry-After": "5"}) from exc

    def refuse(webhook: str, request: Request, why: str) -> HTTPException:
        WEBHOOKS.labels(webhook, "forbidden").inc()
        client = request.client.host if request.client else "unknown"
        log.warning(
            "security: %s webhook refused from %s: %s",
            webhook,
            client,
            why,
            extra={"security_event": f"{webhook}_auth_failed"},
        )
        return HTTPException(403, "forbidden")

    async def twilio_form(webhook: str, request: Request, path: str):
        if not settings.whatsapp_enabled:
            raise HTTPException(404, "the WhatsApp channel is disabled")
        form = await request.form()
        signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
        if not whatsapp.signature_valid(settings, path, request.url.query, form, signature):
            raise refuse(
                webhook, request, "missing X-Twilio-Signature" if not signature else "bad X-Twilio-Signature"
            )
        return form

    @router.post(whatsapp.INBOUND_PATH, response_class=Response, summary="Twilio WhatsApp inbound message")
    async def whatsapp_inbound(request: Request) -> Response:
        form = await twilio_form("whatsapp", request, whatsapp.INBOUND_PATH)
        try:
            key, event = whatsapp.parse_inbound(form, datetime.now(timezone.utc))
        except ValueError as exc:
            WEBHOOKS.labels("whatsapp", "invalid").inc()
            raise HTTPException(400, str(exc)) from exc
        event.publish_time.GetCurrentTime()
        await publish_or_503("whatsapp", topics.INCOMING, key, event)
        WEBHOOKS.labels("whatsapp", "accepted").inc()
        return Response(EMPTY_TWIML, media_type="text/xml")

    @router.post(
        whatsapp.STATUS_PATH, status_code=204, response_class=Response, summary="Twilio delivery status"
    )
    async def whatsapp_status(request: Request) -> Response:
        form = await twilio_form("whatsapp_status", request, whatsapp.STATUS_PATH)
        update = whatsapp.parse_status_callback(form, request.query_params)
        if update is None:
            WEBHOOKS.labels("whatsapp_status", "ignored").inc()
            return Response(status_code=204)
        if not update.reply_id:
            # Sent without our callback URL (e.g. by a person from the Twilio console).
            WEBHOOKS.labels("whatsapp_status", "unmatched").inc()
            log.info(
                "whatsapp status %s for %s without reply_id: ignored",
                update.channel_status,
                update.external_id,
            )
            return Response(status_code=204)
        if on_delivery_status is not None:
            try:
                await asyncio.wait_for(on_delivery_status(update), timeout=sink_timeout_s)
            except grpc.aio.AioRpcError as exc:
                if is_transient(exc):
                    WEBHOOKS.labels("whatsapp_status", "unavailable").inc()
                    raise HTTPException(503, "temporarily unavailable, retry", {"Retry-After": "5"}) from exc
                # E.g. a reply that was never recorded on a ticket: Twilio's retries cannot help.
                WEBHOOKS.labels("whatsapp_status", "unmatched").inc()
                log.info("delivery status for reply %s not recorded: %s", update.reply_id, exc.code().name)
                return Response(status_code=204)
            except (asyncio.TimeoutError, ConnectionError) as exc:
                WEBHOOKS.labels("whatsapp_status", "unavailable").inc()
                log.warning(
                    "delivery status for reply %s not recorded: %s", update.reply_id, type(exc).__name__
                )
                raise HTTPException(503, "temporarily unavailable, retry", {"Retry-After": "5"}) from exc
        WEBHOOKS.labels("whatsapp_status", "recorded").inc()
        return Response(status_code=204)

    @router.post(gmail.PUSH_PATH, status_code=204, response_class=Response, summary="Pub/Sub push (Gmail)")
    async def gmail_push(request: Request) -> Response:
        if not settings.gmail_enabled:
            raise HTTPException(404, "the email channel is disabled")
        try:
            who = await run_in_threadpool(
                authenticator.verify, request.headers.get("authorization"), request.query_params.get("token")
            )
        except PushRejected as exc:
            raise refuse("gmail", request, str(exc)) from exc
        except PushAuthUnavailable as exc:
            WEBHOOKS.labels("gmail", "unavailable").inc()
            log.warning("gmail push not verifiable now: %s", exc)
            raise HTTPException(503, "temporarily unavailable, retry", {"Retry-After": "10"}) from exc
        try:
            note = gmail.parse_push(await request.body())
        except ValueError as exc:
            WEBHOOKS.labels("gmail", "invalid").inc()
            raise HTTPException(400, str(exc)) from exc
        if note.email_address != settings.gmail_support_address:
            # Authenticated, but a mailbox we don't serve: acknowledge so Pub/Sub stops retrying.
            WEBHOOKS.labels("gmail", "ignored").inc()
            log.warning("gmail push for a mailbox we do not serve (pushed by %s): ignored", who)
            return Response(status_code=204)
        topic = topics.inbound_topic(channel_pb2.CHANNEL_EMAIL)
        await publish_or_503("gmail", topic, note.email_address, note.to_proto())
        WEBHOOKS.labels("gmail", "accepted").inc()
        return Response(status_code=204)

    return router
