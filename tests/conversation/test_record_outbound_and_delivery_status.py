"""RecordOutbound is idempotent on the reply id; delivery status moves forward later
(sent, delivered, failed) and late, out-of-order callbacks never move it back."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound, outbound, released_together
from tests.running_services import new_id, rpc_error


async def _ticket(conversation, channel=CHANNEL_WHATSAPP) -> str:
    return (await conversation.RecordInbound(inbound(new_id(), channel))).ticket_id


async def test_a_reply_is_stored_once_with_its_tokens_latency_and_tool_calls(conversation, admin_db):
    ticket_id = await _ticket(conversation)
    request = outbound(
        ticket_id, "Go to Board → Export.", input_tokens=812, output_tokens=64, latency_ms=2300,
        tool_calls=[pb.ToolCall(name="search_knowledge", arguments_json='{"q": "export"}', ok=True)],
    )
    first = await conversation.RecordOutbound(request)
    second = await conversation.RecordOutbound(request)
    assert not first.duplicate and second.duplicate
    assert second.message_id == first.message_id
    assert first.delivery_status == pb.DELIVERY_STATUS_PENDING

    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))
    reply = got.messages[-1]
    assert (reply.direction, reply.role, reply.channel, reply.reply_id) == (
        pb.MESSAGE_DIRECTION_OUTBOUND, pb.MESSAGE_ROLE_AGENT, CHANNEL_WHATSAPP, request.reply_id)
    assert len(got.messages) == 2
    row = await admin_db.fetchrow(
        "SELECT input_tokens, output_tokens, latency_ms, tool_calls FROM conversation.messages"
        " WHERE reply_id = $1", request.reply_id)
    assert (row["input_tokens"], row["output_tokens"], row["latency_ms"]) == (812, 64, 2300)
    assert json.loads(row["tool_calls"]) == [
        {"name": "search_knowledge", "arguments_json": '{"q": "export"}', "ok": True}]



async def test_the_same_reply_recorded_at_once_is_stored_and_counted_once(conversation, admin_db):
    ticket_id = await _ticket(conversation)
    request = outbound(ticket_id)
    replies = await asyncio.gather(*(conversation.RecordOutbound(request) for _ in range(8)))
    assert sorted(r.duplicate for r in replies) == [False] + [True] * 7
    assert len({r.message_id for r in replies}) == 1
    row = await admin_db.fetchrow(
        "SELECT c.message_count, (SELECT count(*) FROM conversation.messages m"
        "  WHERE m.conversation_id = c.conversation_id) AS stored"
        " FROM conversation.conversations c JOIN conversation.tickets t USING (conversation_id)"
        " WHERE t.ticket_id = $1", uuid.UUID(ticket_id))
    assert (row["message_count"], row["stored"]) == (2, 2)

async def test_delivery_status_moves_forward_and_a_duplicate_reply_reports_it(conversation, admin_db):
    request = outbound(await _ticket(conversation))
    await conversation.RecordOutbound(request)

    async def report(status, **extra):
        return (await conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
            reply_id=request.reply_id, delivery_status=status, **extra))).delivery_status

    assert await report(pb.DELIVERY_STATUS_SENT, external_id="SM123") == pb.DELIVERY_STATUS_SENT
    assert await report(pb.DELIVERY_STATUS_DELIVERED) == pb.DELIVERY_STATUS_DELIVERED
    assert await report(pb.DELIVERY_STATUS_SENT) == pb.DELIVERY_STATUS_DELIVERED  # late callback
    assert await report(pb.DELIVERY_STATUS_FAILED) == pb.DELIVERY_STATUS_DELIVERED
    # The dispatcher retrying the same reply learns it was already delivered: no second send.
    assert (await conversation.RecordOutbound(request)).delivery_status == pb.DELIVERY_STATUS_DELIVERED
    assert await admin_db.fetchval(
        "SELECT delivery_external_id FROM conversation.messages WHERE reply_id = $1", request.reply_id) == "SM123"



async def test_a_late_report_that_moves_nothing_still_keeps_its_id_and_error(conversation, admin_db):
    """Twilio's `sent` callback, which carries the message SID, can arrive after `delivered`:
    the status stays, the id and error it adds are kept, and its update time moves."""
    request = outbound(await _ticket(conversation))
    await conversation.RecordOutbound(request)

    async def stored():
        return await admin_db.fetchrow(
            "SELECT delivery_status, delivery_external_id, delivery_error, delivery_update_time"
            " FROM conversation.messages WHERE reply_id = $1", request.reply_id)

    await conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
        reply_id=request.reply_id, delivery_status=pb.DELIVERY_STATUS_DELIVERED))
    delivered = await stored()
    late = await conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
        reply_id=request.reply_id, delivery_status=pb.DELIVERY_STATUS_SENT, external_id="SM9"))
    assert (late.delivery_status, late.previous_delivery_status) == (
        pb.DELIVERY_STATUS_DELIVERED, pb.DELIVERY_STATUS_DELIVERED)
    after_id = await stored()
    assert (after_id["delivery_status"], after_id["delivery_external_id"]) == ("delivered", "SM9")
    assert after_id["delivery_update_time"] > delivered["delivery_update_time"]

    await conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
        reply_id=request.reply_id, delivery_status=pb.DELIVERY_STATUS_FAILED, error="30008 unknown"))
    after_error = await stored()
    assert (after_error["delivery_status"], after_error["delivery_external_id"],
            after_error["delivery_error"]) == ("delivered", "SM9", "30008 unknown")


async def test_concurrent_reports_move_a_status_once(conversation, admin_db):
    """Callbacks racing for one reply are taken one at a time: exactly one report is told it
    moved the reply to delivered, and the others see it delivered already."""
    request = outbound(await _ticket(conversation))
    await conversation.RecordOutbound(request)
    replies = await released_together(
        admin_db, "SELECT 1 FROM conversation.messages WHERE reply_id = $1 FOR UPDATE",
        request.reply_id, [conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
            reply_id=request.reply_id, delivery_status=status))
            for status in [pb.DELIVERY_STATUS_DELIVERED, pb.DELIVERY_STATUS_SENT] * 4])
    moved = [r for r in replies if r.delivery_status == pb.DELIVERY_STATUS_DELIVERED
             and r.previous_delivery_status != pb.DELIVERY_STATUS_DELIVERED]
    assert len(moved) == 1, [(r.previous_delivery_status, r.delivery_status) for r in replies]


async def test_a_failed_delivery_keeps_the_error(conversation, admin_db):
    request = outbound(await _ticket(conversation, CHANNEL_EMAIL))
    await conversation.RecordOutbound(request)
    reply = await conversation.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(
        reply_id=request.reply_id, delivery_status=pb.DELIVERY_STATUS_FAILED, error="550 mailbox unavailable"))
    assert reply.delivery_status == pb.DELIVERY_STATUS_FAILED
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=request.ticket_id))
    assert got.messages[-1].delivery_status == pb.DELIVERY_STATUS_FAILED
    assert await admin_db.fetchval(
        "SELECT delivery_error FROM conversation.messages WHERE reply_id = $1", request.reply_id
    ) == "550 mailbox unavailable"


async def test_outbound_errors_are_typed(conversation):
    ticket_id = await _ticket(conversation)
    cases = [
        (outbound(new_id()), grpc.StatusCode.NOT_FOUND, "ticket_id"),
        (outbound(ticket_id, reply_id=""), grpc.StatusCode.INVALID_ARGUMENT, "reply_id: required"),
        (outbound(ticket_id, content=" "), grpc.StatusCode.INVALID_ARGUMENT, "content: required"),
        (outbound(ticket_id, role=pb.MESSAGE_ROLE_CUSTOMER), grpc.StatusCode.INVALID_ARGUMENT, "role"),
        (outbound(ticket_id, latency_ms=-5), grpc.StatusCode.INVALID_ARGUMENT, "latency_ms"),
        (outbound(ticket_id, delivery_status=9), grpc.StatusCode.INVALID_ARGUMENT, "delivery_status: unknown value 9"),
        (outbound("ticket-1"), grpc.StatusCode.INVALID_ARGUMENT, "ticket_id"),
    ]
    for request, code, detail in cases:
        err = await rpc_error(conversation.RecordOutbound(request))
        assert (err.code(), detail in err.details()) == (code, True), (request, err.details())

    used = outbound(ticket_id)
    await conversation.RecordOutbound(used)
    other_ticket = await _ticket(conversation)
    reuse = await rpc_error(conversation.RecordOutbound(outbound(other_ticket, reply_id=used.reply_id)))
    assert reuse.code() == grpc.StatusCode.FAILED_PRECONDITION

    for status, code in ((pb.DELIVERY_STATUS_PENDING, grpc.StatusCode.INVALID_ARGUMENT),
                         (pb.DELIVERY_STATUS_SENT, grpc.StatusCode.NOT_FOUND)):
        err = await rpc_error(conversation.UpdateDeliveryStatus(
            pb.UpdateDeliveryStatusRequest(reply_id="never-recorded", delivery_status=status)))
        assert err.code() == code
