"""WhatsApp's 24-hour customer-service window, on the real dispatcher and ConversationService.

A reply to a customer who last wrote more than 24 h ago is never offered to Twilio as free
text: it is recorded failed with that reason and the ticket goes to a person. A reply Twilio
accepted but then reports undelivered with error 63016 (outside the window) is failed and
escalated the same way, from the signed status callback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import uvicorn
from fastapi import FastAPI
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from services.channels.whatsapp import record_delivery_status
from services.edge.webhooks import create_webhook_router
from tests.channels.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    RecordingProducer,
    channel_settings,
    gmail_settings,
    publishing_to,
)
from tests.fakes.twilio import post_webhook, status_params

WHATSAPP = channel_pb2.CHANNEL_WHATSAPP


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serves `app` in this event loop (where the ConversationService stub lives), as the edge
    serves its webhooks; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _stored_error(admin_db, reply_id: str) -> str:
    return await admin_db.fetchval(
        "SELECT delivery_error FROM conversation.messages WHERE reply_id = $1", reply_id
    )


async def test_reply_outside_the_window_is_not_sent_but_failed_and_escalated(
    dispatcher, conversation, admin_db, twilio
):
    async with dispatcher() as run:
        late = await run.open_ticket(WHATSAPP)
        stale = await run.reply(
            late,
            "Here is how to restore your board.",
            phone="+351912000010",
            last_inbound=datetime.now(timezone.utc) - timedelta(hours=25),
        )
        fresh_ticket = await run.open_ticket(WHATSAPP)
        fresh = await run.reply(
            fresh_ticket,
            "Your export is ready.",
            phone="+351912000011",
            last_inbound=datetime.now(timezone.utc) - timedelta(hours=23),
        )
        await run.publish(WHATSAPP, stale)
        await run.publish(WHATSAPP, fresh)

        await run.delivered(late, stale.reply_id, conv_pb.DELIVERY_STATUS_FAILED)
        await run.delivered(fresh_ticket, fresh.reply_id, conv_pb.DELIVERY_STATUS_SENT)
        [escalation] = await run.escalations(late)
        view = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=late.ticket_id))

    # Twilio was never asked to send the late reply; the one inside the window went.
    assert [m["To"] for m in twilio.messages] == ["whatsapp:+351912000011"]
    assert "24-hour customer-service window" in await _stored_error(admin_db, stale.reply_id)
    assert view.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    assert escalation.reason == conv_pb.ESCALATION_REASON_OTHER
    assert "24-hour" in escalation.note and "25.0 h ago" in escalation.note
    assert await run.escalations(fresh_ticket) == []


async def test_twilio_63016_on_the_status_callback_fails_the_reply_and_escalates(
    dispatcher, conversation, admin_db, gmail, twilio
):
    channels = gmail_settings(gmail, twilio_api_base_url=twilio.url, whatsapp_max_chars=40)
    async with dispatcher(channels) as run:
        ticket = await run.open_ticket(WHATSAPP)
        # No last-inbound time known: the window is left to Twilio.
        reply = await run.reply(ticket, "Open Settings. Then choose Restore board.", phone="+351912000012")
        reply.ClearField("customer_last_inbound_time")
        await run.publish(WHATSAPP, reply)
        await run.delivered(ticket, reply.reply_id, conv_pb.DELIVERY_STATUS_SENT)

    first, second = twilio.messages
    app = FastAPI()
    app.include_router(
        create_webhook_router(
            channel_settings(),
            publishing_to(RecordingProducer()),
            on_delivery_status=lambda update: record_delivery_status(conversation, update),
        )
    )
    async with serving(app) as edge:

        async def report(message: dict[str, str], status: str, error_code: str = "") -> int:
            params = status_params(ACCOUNT_SID, message, status, error_code)
            response = await asyncio.to_thread(
                post_webhook, edge, message["StatusCallback"], params, AUTH_TOKEN
            )
            return response.status_code

        # Twilio reports the first part delivered, then the second refused: outside the window.
        assert await report(first, "delivered") == 204
        assert await report(second, "undelivered", "63016") == 204
        # Twilio may report it again: still one escalation.
        assert await report(second, "undelivered", "63016") == 204

    view = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket.ticket_id))
    [message] = [m for m in view.messages if m.reply_id == reply.reply_id]
    assert message.delivery_status == conv_pb.DELIVERY_STATUS_FAILED
    error = await _stored_error(admin_db, reply.reply_id)
    assert "63016" in error and "24-hour" in error
    assert view.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    [escalation] = view.escalations
    assert escalation.reason == conv_pb.ESCALATION_REASON_OTHER
    assert reply.reply_id in escalation.note and "63016" in escalation.note
