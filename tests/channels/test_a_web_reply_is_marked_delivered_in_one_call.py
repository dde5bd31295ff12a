"""A web reply with no email notice to send was delivered when the worker stored it: the
dispatcher marks it DELIVERED with one ConversationService call (UpdateDeliveryStatus) instead
of finding it first (RecordOutbound) and then marking it. A redelivered record is still told
apart, by the status the reply had before the call, and moves nothing; a reply the worker never
stored is still stored, then marked.

Real dispatcher, real Kafka, the real ConversationService over gRPC and PostgreSQL; the calls
are counted by the service's own `fte_rpc_server_duration_seconds` (this process serves it)."""

from __future__ import annotations

import uuid

import asyncpg
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from prometheus_client import REGISTRY

from tests.channels.conftest import channel_settings
from tests.channels.dispatcher_run import until

WEB = channel_pb2.CHANNEL_WEB_FORM
SERVICE = "fte.conversation.v1.ConversationService"


def calls(method: str) -> float:
    """Calls of `method` this process's ConversationService answered, whatever their status."""
    return sum(s.value for metric in REGISTRY.collect() for s in metric.samples
               if s.name == "fte_rpc_server_duration_seconds_count"
               and s.labels.get("service") == SERVICE and s.labels.get("method") == method)


def counted() -> dict[str, float]:
    return {m: calls(m) for m in ("RecordOutbound", "UpdateDeliveryStatus")}


def grew(before: dict[str, float]) -> dict[str, float]:
    return {m: n - before[m] for m, n in counted().items()}


async def update_time(stack, reply_id: str):
    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        return await conn.fetchval(
            "SELECT delivery_update_time FROM conversation.messages WHERE reply_id = $1", reply_id)
    finally:
        await conn.close()


async def test_a_stored_web_reply_is_marked_delivered_in_one_call_and_a_repeat_moves_nothing(
    stack, dispatcher
):
    # No Gmail: the web form's notice has no channel, so storing the reply is all of its delivery.
    async with dispatcher(channel_settings(gmail_enabled=False)) as run:
        ticket = await run.open_ticket(WEB)
        first = await run.reply(ticket, "Your board is in the trash for 30 days.", email="ana@example.com")

        before = counted()
        await run.publish(WEB, first)
        await run.delivered(ticket, first.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)
        assert grew(before) == {"RecordOutbound": 0, "UpdateDeliveryStatus": 1}
        delivered_at = await update_time(stack, first.reply_id)

        # The same record again (a redelivery), then a second reply behind it on the partition:
        # once the second is delivered, the repeat has been handled.
        second = await run.reply(ticket, "And here is how to restore it.", email="ana@example.com")
        before = counted()
        await run.publish(WEB, first)
        await run.publish(WEB, second)
        await run.delivered(ticket, second.reply_id, conv_pb.DELIVERY_STATUS_DELIVERED)
        assert grew(before) == {"RecordOutbound": 0, "UpdateDeliveryStatus": 2}
        assert await run.delivery(ticket, first.reply_id) == conv_pb.DELIVERY_STATUS_DELIVERED
        assert await update_time(stack, first.reply_id) == delivered_at, "a repeat writes nothing"


async def test_a_web_reply_the_worker_never_stored_is_stored_then_marked(dispatcher):
    async with dispatcher(channel_settings(gmail_enabled=False)) as run:
        ticket = await run.open_ticket(WEB)
        missing = events_pb2.OutboundMessage(
            reply_id=f"reply-{uuid.uuid4().hex}", ticket_id=ticket.ticket_id,
            customer_id=ticket.customer_id, channel=WEB, parts=["Stored by the dispatcher."],
            recipient=events_pb2.Recipient(display_name="Ana Silva"))

        async def stored() -> list[conv_pb.Message]:
            view = await run.conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket.ticket_id))
            found = [m for m in view.messages if m.reply_id == missing.reply_id]
            return found if found and found[0].delivery_status == conv_pb.DELIVERY_STATUS_DELIVERED else []

        before = counted()
        await run.publish(WEB, missing)
        [message] = await until(stored, "the reply stored and delivered", 60)
        assert message.content == "Stored by the dispatcher."
        # The one-call mark finds nothing (NOT_FOUND); the usual path stores it, then marks it.
        assert grew(before) == {"RecordOutbound": 1, "UpdateDeliveryStatus": 2}


async def test_a_repeated_status_report_answers_the_status_it_found(conversation, dispatcher):
    async with dispatcher(channel_settings(gmail_enabled=False)) as run:
        ticket = await run.open_ticket(WEB)
        reply = await run.reply(ticket, "Stored, pending.")
    report = conv_pb.UpdateDeliveryStatusRequest(
        reply_id=reply.reply_id, delivery_status=conv_pb.DELIVERY_STATUS_DELIVERED)
    moved = await conversation.UpdateDeliveryStatus(report)
    assert (moved.previous_delivery_status, moved.delivery_status) == (
        conv_pb.DELIVERY_STATUS_PENDING, conv_pb.DELIVERY_STATUS_DELIVERED)
    again = await conversation.UpdateDeliveryStatus(report)
    assert (again.previous_delivery_status, again.delivery_status) == (
        conv_pb.DELIVERY_STATUS_DELIVERED, conv_pb.DELIVERY_STATUS_DELIVERED)
    late = await conversation.UpdateDeliveryStatus(conv_pb.UpdateDeliveryStatusRequest(
        reply_id=reply.reply_id, delivery_status=conv_pb.DELIVERY_STATUS_SENT))
    assert (late.previous_delivery_status, late.delivery_status) == (
        conv_pb.DELIVERY_STATUS_DELIVERED, conv_pb.DELIVERY_STATUS_DELIVERED)
