"""UpdateTicketStatus allows open→processing→resolved|escalated and escalated→resolved;
anything else is FAILED_PRECONDITION naming the allowed transitions."""

from __future__ import annotations

import grpc
import pytest
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound, released_together
from tests.running_services import new_id, rpc_error

OPEN, PROCESSING, RESOLVED, ESCALATED = (
    pb.TICKET_STATUS_OPEN, pb.TICKET_STATUS_PROCESSING, pb.TICKET_STATUS_RESOLVED, pb.TICKET_STATUS_ESCALATED)
ALLOWED = {(OPEN, PROCESSING), (PROCESSING, RESOLVED), (PROCESSING, ESCALATED), (ESCALATED, RESOLVED)}
# How to bring a fresh ticket to each status through allowed steps.
PATH = {OPEN: [], PROCESSING: [PROCESSING], RESOLVED: [PROCESSING, RESOLVED],
        ESCALATED: [PROCESSING, ESCALATED]}


async def _ticket_in(conversation, status) -> pb.RecordInboundResponse:
    reply = await conversation.RecordInbound(inbound(new_id()))
    for step in PATH[status]:
        await conversation.UpdateTicketStatus(pb.UpdateTicketStatusRequest(ticket_id=reply.ticket_id, status=step))
    return reply


async def _move(conversation, ticket_id, status, note=""):
    return await conversation.UpdateTicketStatus(
        pb.UpdateTicketStatusRequest(ticket_id=ticket_id, status=status, note=note))


@pytest.mark.parametrize("current, wanted", sorted(ALLOWED))
async def test_allowed_transitions_move_the_ticket(conversation, current, wanted):
    reply = await _ticket_in(conversation, current)
    moved = (await _move(conversation, reply.ticket_id, wanted)).ticket
    assert moved.status == wanted
    assert moved.HasField("resolve_time") == (wanted == RESOLVED)
    assert moved.update_time.ToNanoseconds() >= moved.create_time.ToNanoseconds()


@pytest.mark.parametrize(
    "current, wanted",
    sorted((c, w) for c in PATH for w in PATH if c != w and (c, w) not in ALLOWED),
)
async def test_any_other_transition_is_refused_naming_what_is_allowed(conversation, current, wanted):
    reply = await _ticket_in(conversation, current)
    err = await rpc_error(_move(conversation, reply.ticket_id, wanted))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "open→processing→resolved|escalated, escalated→resolved" in err.details()
    name = pb.TicketStatus.Name(current).removeprefix("TICKET_STATUS_").lower()
    assert f"ticket is {name}" in err.details()
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))
    assert got.ticket.status == current


async def test_repeating_the_current_status_is_a_harmless_retry(conversation):
    reply = await _ticket_in(conversation, PROCESSING)
    again = (await _move(conversation, reply.ticket_id, PROCESSING)).ticket
    assert again.status == PROCESSING


async def test_escalated_then_resolved_returns_the_conversation_to_active(conversation):
    reply = await _ticket_in(conversation, ESCALATED)
    conv = (await conversation.GetConversation(pb.GetConversationRequest(conversation_id=reply.conversation_id))).conversation
    assert conv.status == pb.CONVERSATION_STATUS_ESCALATED
    await _move(conversation, reply.ticket_id, RESOLVED, note="refund approved by billing")
    conv = (await conversation.GetConversation(pb.GetConversationRequest(conversation_id=reply.conversation_id))).conversation
    assert conv.status == pb.CONVERSATION_STATUS_ACTIVE


@pytest.mark.parametrize(
    "request_fields, code, detail",
    [
        ({"ticket_id": "abc", "status": PROCESSING}, grpc.StatusCode.INVALID_ARGUMENT, "ticket_id"),
        ({"status": PROCESSING}, grpc.StatusCode.INVALID_ARGUMENT, "ticket_id: required"),
        ({"ticket_id": "NEW", "status": 0}, grpc.StatusCode.INVALID_ARGUMENT, "status: required"),
        ({"ticket_id": "NEW", "status": 17}, grpc.StatusCode.INVALID_ARGUMENT, "status: unknown value 17"),
        ({"ticket_id": "NEW", "status": PROCESSING}, grpc.StatusCode.NOT_FOUND, "does not exist"),
    ],
)
async def test_bad_requests_are_typed(conversation, request_fields, code, detail):
    fields = {k: (new_id() if v == "NEW" else v) for k, v in request_fields.items()}
    err = await rpc_error(conversation.UpdateTicketStatus(pb.UpdateTicketStatusRequest(**fields)))
    assert err.code() == code and detail in err.details()


async def test_every_move_is_one_event_with_its_note_and_a_retry_adds_none(conversation, admin_db):
    reply = await conversation.RecordInbound(inbound(new_id()))
    await _move(conversation, reply.ticket_id, PROCESSING, note="the AI assistant is answering")
    await _move(conversation, reply.ticket_id, PROCESSING, note="a retry")
    moved = (await _move(conversation, reply.ticket_id, RESOLVED, note="answered")).ticket
    events = await admin_db.fetch(
        "SELECT from_status, to_status, note, event_time FROM conversation.ticket_events"
        " WHERE ticket_id = $1::uuid ORDER BY event_id", reply.ticket_id)
    assert [(e["from_status"], e["to_status"], e["note"]) for e in events] == [
        (None, "open", ""), ("open", "processing", "the AI assistant is answering"),
        ("processing", "resolved", "answered")]
    assert events[-1]["event_time"].timestamp() * 1e9 == pytest.approx(
        moved.update_time.ToNanoseconds(), abs=1_000)


async def test_the_same_move_asked_at_once_moves_the_ticket_once(conversation, admin_db):
    reply = await conversation.RecordInbound(inbound(new_id()))
    moved = await released_together(
        admin_db, "SELECT 1 FROM conversation.tickets WHERE ticket_id = $1::uuid FOR UPDATE",
        reply.ticket_id, [_move(conversation, reply.ticket_id, PROCESSING) for _ in range(8)])
    assert {m.ticket.status for m in moved} == {PROCESSING}
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.ticket_events WHERE ticket_id = $1::uuid"
        " AND to_status = 'processing'", reply.ticket_id) == 1
