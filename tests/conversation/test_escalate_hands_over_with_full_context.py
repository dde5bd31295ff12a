"""Escalate writes an escalation with the context a person needs (messages, channels, customer,
thread refs), marks ticket and conversation escalated, and is idempotent per ticket+reason."""

from __future__ import annotations

import json

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id, rpc_error


async def test_escalation_carries_the_conversation_and_marks_ticket_and_conversation(conversation, admin_db):
    customer = new_id()
    first = await conversation.RecordInbound(inbound(
        customer, CHANNEL_EMAIL, "How much is the enterprise plan?", subject="Pricing",
        thread_ref="<CAF=abc@mail.gmail.com>", sender_name="Ada Lovelace"))
    await conversation.RecordOutbound(outbound(first.ticket_id, "Let me check."))
    second = await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP, "I want a refund NOW"))
    await conversation.UpdateTicketStatus(pb.UpdateTicketStatusRequest(ticket_id=second.ticket_id, status=pb.TICKET_STATUS_PROCESSING))

    reply = await conversation.Escalate(pb.EscalateRequest(
        ticket_id=second.ticket_id, reason=pb.ESCALATION_REASON_REFUND, note="asks for refund of March"))
    e = reply.escalation
    assert not reply.duplicate
    assert (e.ticket_id, e.reason, e.note) == (second.ticket_id, pb.ESCALATION_REASON_REFUND, "asks for refund of March")

    context = json.loads(e.context_json)
    assert context["customer_id"] == customer
    assert context["channels"] == ["email", "whatsapp"]
    assert [m["content"] for m in context["messages"]] == [
        "How much is the enterprise plan?", "Let me check.", "I want a refund NOW"]
    assert [(m["channel"], m["direction"], m["role"]) for m in context["messages"]] == [
        ("email", "inbound", "customer"), ("email", "outbound", "agent"), ("whatsapp", "inbound", "customer")]
    assert context["channel_switches"][0]["from"] == "email" and context["channel_switches"][0]["to"] == "whatsapp"
    assert context["thread_refs"] == ["<CAF=abc@mail.gmail.com>"]
    assert context["sender_names"] == ["Ada Lovelace"]
    assert context["ticket"]["ticket_id"] == second.ticket_id

    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=second.ticket_id))
    assert ticket.ticket.status == pb.TICKET_STATUS_ESCALATED
    assert [x.escalation_id for x in ticket.escalations] == [e.escalation_id]
    conv = await conversation.GetConversation(pb.GetConversationRequest(conversation_id=second.conversation_id))
    assert conv.conversation.status == pb.CONVERSATION_STATUS_ESCALATED
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.escalations WHERE ticket_id = $1::uuid", second.ticket_id) == 1


async def test_escalating_twice_for_one_reason_returns_the_first_and_another_reason_adds_one(conversation):
    ticket_id = (await conversation.RecordInbound(inbound(new_id()))).ticket_id
    request = pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_ANGER)
    first = await conversation.Escalate(request)
    again = await conversation.Escalate(request)
    assert again.duplicate and again.escalation.escalation_id == first.escalation.escalation_id
    other = await conversation.Escalate(pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_LEGAL))
    assert not other.duplicate
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))
    assert {x.reason for x in got.escalations} == {pb.ESCALATION_REASON_ANGER, pb.ESCALATION_REASON_LEGAL}
    # An open ticket can be handed over at once (e.g. processing failed before it started).
    assert got.ticket.status == pb.TICKET_STATUS_ESCALATED


async def test_a_resolved_ticket_is_not_escalated_and_bad_requests_are_typed(conversation):
    ticket_id = (await conversation.RecordInbound(inbound(new_id()))).ticket_id
    for status in (pb.TICKET_STATUS_PROCESSING, pb.TICKET_STATUS_RESOLVED):
        await conversation.UpdateTicketStatus(pb.UpdateTicketStatusRequest(ticket_id=ticket_id, status=status))
    resolved = await rpc_error(conversation.Escalate(pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_OTHER)))
    assert resolved.code() == grpc.StatusCode.FAILED_PRECONDITION

    for request, code, detail in (
        (pb.EscalateRequest(ticket_id=ticket_id), grpc.StatusCode.INVALID_ARGUMENT, "reason: required"),
        (pb.EscalateRequest(ticket_id=ticket_id, reason=99), grpc.StatusCode.INVALID_ARGUMENT, "reason: unknown value 99"),
        (pb.EscalateRequest(ticket_id="t-1", reason=1), grpc.StatusCode.INVALID_ARGUMENT, "ticket_id"),
        (pb.EscalateRequest(ticket_id=new_id(), reason=1), grpc.StatusCode.NOT_FOUND, "does not exist"),
    ):
        err = await rpc_error(conversation.Escalate(request))
        assert err.code() == code and detail in err.details()


async def test_every_reason_of_the_issue_is_accepted(conversation):
    ticket_id = (await conversation.RecordInbound(inbound(new_id()))).ticket_id
    for reason in ("PRICING", "REFUND", "LEGAL", "ANGER", "HUMAN_REQUEST", "SEARCH_FAILED", "PROCESSING_ERROR", "OTHER"):
        reply = await conversation.Escalate(pb.EscalateRequest(
            ticket_id=ticket_id, reason=pb.EscalationReason.Value(f"ESCALATION_REASON_{reason}")))
        assert not reply.duplicate
