"""RecordInbound stores a message once (idempotent on its key, and on a requested ticket id),
attaches it to the customer's one active conversation and opens the ticket before anything
answers."""

from __future__ import annotations

import asyncio

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound
from tests.running_services import new_id, rpc_error


async def test_inbound_opens_an_open_ticket_with_channel_category_and_priority(conversation):
    customer = new_id()
    reply = await conversation.RecordInbound(inbound(
        customer, CHANNEL_WEB_FORM, "The export button does nothing", subject="Export broken",
        category="bug_report", priority=pb.TICKET_PRIORITY_HIGH, thread_ref="form-123",
        sender_name="Ada",
    ))
    assert reply.customer_id == customer
    assert reply.new_conversation and not reply.duplicate
    assert not reply.HasField("channel_switch")

    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))
    t = got.ticket
    assert (t.status, t.source_channel, t.category, t.priority) == (
        pb.TICKET_STATUS_OPEN, CHANNEL_WEB_FORM, "bug_report", pb.TICKET_PRIORITY_HIGH)
    assert t.subject == "Export broken"
    assert t.conversation_id == reply.conversation_id and t.customer_id == customer
    assert t.create_time.seconds and t.update_time.seconds and not t.HasField("resolve_time")
    [message] = got.messages
    assert message.message_id == reply.message_id
    assert (message.direction, message.role, message.channel) == (
        pb.MESSAGE_DIRECTION_INBOUND, pb.MESSAGE_ROLE_CUSTOMER, CHANNEL_WEB_FORM)
    assert message.content == "The export button does nothing"


async def test_begin_processing_moves_the_new_ticket_on_in_the_same_call(conversation, admin_db):
    reply = await conversation.RecordInbound(inbound(new_id(), content="Which browsers work?",
                                                     begin_processing=True))
    assert reply.ticket_status == pb.TICKET_STATUS_PROCESSING
    t = (await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))).ticket
    assert t.status == pb.TICKET_STATUS_PROCESSING
    events = await admin_db.fetch(
        "SELECT from_status, to_status, note FROM conversation.ticket_events"
        " WHERE ticket_id = $1::uuid ORDER BY event_id", reply.ticket_id)
    assert [tuple(e) for e in events] == [
        (None, "open", ""), ("open", "processing", "the AI assistant is answering")]

    # A redelivery moves nothing and answers the status the ticket has now.
    await conversation.Escalate(pb.EscalateRequest(
        ticket_id=reply.ticket_id, reason=pb.ESCALATION_REASON_HUMAN_REQUEST, note="asked for a person"))
    again = await conversation.RecordInbound(inbound(
        reply.customer_id, content="Which browsers work?", begin_processing=True,
        idempotency_key=await admin_db.fetchval(
            "SELECT idempotency_key FROM conversation.messages WHERE message_id = $1::uuid",
            reply.message_id)))
    assert again.duplicate and again.ticket_status == pb.TICKET_STATUS_ESCALATED
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.ticket_events WHERE ticket_id = $1::uuid"
        " AND to_status = 'processing'", reply.ticket_id) == 1

    # Without it the ticket stays open for whoever picks it up, as before.
    plain = await conversation.RecordInbound(inbound(new_id()))
    assert plain.ticket_status == pb.TICKET_STATUS_OPEN


async def test_without_subject_or_priority_the_ticket_gets_sensible_defaults(conversation):
    reply = await conversation.RecordInbound(inbound(new_id(), content="hi, my invoice looks wrong " * 8))
    t = (await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))).ticket
    assert t.priority == pb.TICKET_PRIORITY_MEDIUM
    assert t.subject.startswith("hi, my invoice looks wrong") and len(t.subject) <= 80


async def test_the_same_key_twice_returns_the_first_result_and_stores_one_message(conversation, admin_db):
    request = inbound(new_id(), idempotency_key="gmail-18c2f0a9d1")
    first = await conversation.RecordInbound(request)
    second = await conversation.RecordInbound(request)
    assert second.duplicate and not first.duplicate
    assert (second.conversation_id, second.ticket_id, second.message_id) == (
        first.conversation_id, first.ticket_id, first.message_id)
    assert second.new_conversation == first.new_conversation
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.messages WHERE idempotency_key = 'gmail-18c2f0a9d1'") == 1
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.tickets WHERE customer_id = $1::uuid", request.customer_id) == 1


async def test_concurrent_deliveries_of_one_message_store_it_once(conversation, admin_db):
    request = inbound(new_id())
    replies = await asyncio.gather(*(conversation.RecordInbound(request) for _ in range(20)))
    assert len({r.message_id for r in replies}) == 1
    assert sum(not r.duplicate for r in replies) == 1
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.messages WHERE customer_id = $1::uuid", request.customer_id) == 1


async def test_the_edge_chosen_ticket_id_is_used_and_is_idempotent_too(conversation):
    customer, ticket_id = new_id(), new_id()
    first = await conversation.RecordInbound(inbound(customer, CHANNEL_WEB_FORM, requested_ticket_id=ticket_id))
    assert first.ticket_id == ticket_id
    # A retry that lost its key (a new one was generated) still finds the ticket.
    retry = await conversation.RecordInbound(inbound(customer, CHANNEL_WEB_FORM, requested_ticket_id=ticket_id))
    assert retry.duplicate and retry.message_id == first.message_id
    stolen = await rpc_error(conversation.RecordInbound(inbound(new_id(), requested_ticket_id=ticket_id)))
    assert stolen.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_another_message_under_a_used_ticket_id_is_refused_not_dropped(conversation, admin_db):
    customer, ticket_id = new_id(), new_id()
    first = inbound(customer, CHANNEL_WEB_FORM, "My invoice is wrong", requested_ticket_id=ticket_id,
                    subject="Invoice")
    await conversation.RecordInbound(first)

    other = inbound(customer, CHANNEL_WEB_FORM, "And my password reset fails", requested_ticket_id=ticket_id,
                    subject="Invoice")
    err = await rpc_error(conversation.RecordInbound(other))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == (
        f"requested_ticket_id: ticket {ticket_id} already holds another message (idempotency key"
        f" {first.idempotency_key!r}); send this one without requested_ticket_id or with a new ticket id"
    )

    # Nothing was stored under the refused key, and the caller can record it on a ticket of its own.
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.messages WHERE idempotency_key = $1", other.idempotency_key) == 0
    other.ClearField("requested_ticket_id")
    kept = await conversation.RecordInbound(other)
    assert not kept.duplicate and kept.ticket_id != ticket_id
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=customer))
    assert [m.content for m in history.messages] == ["My invoice is wrong", "And my password reset fails"]


async def test_every_new_inbound_message_gets_its_own_ticket_in_the_one_conversation(conversation):
    customer = new_id()
    first = await conversation.RecordInbound(inbound(customer, content="question one"))
    second = await conversation.RecordInbound(inbound(customer, content="question two"))
    assert second.conversation_id == first.conversation_id and not second.new_conversation
    assert second.ticket_id != first.ticket_id
    got = await conversation.GetConversation(pb.GetConversationRequest(conversation_id=first.conversation_id))
    assert [t.ticket_id for t in got.tickets] == [first.ticket_id, second.ticket_id]
    assert [m.content for m in got.messages] == ["question one", "question two"]
    assert got.conversation.message_count == 2
    assert got.conversation.status == pb.CONVERSATION_STATUS_ACTIVE
    assert got.conversation.initial_channel == CHANNEL_EMAIL


async def test_a_nul_character_is_dropped_not_the_message(conversation):
    """PostgreSQL text holds no U+0000; a message carrying one is stored without it instead
    of failing as INTERNAL (and again on every retry)."""
    customer = new_id()
    reply = await conversation.RecordInbound(inbound(
        customer, CHANNEL_EMAIL, "which\x00 browsers\x00 are supported?", subject="Brow\x00sers",
        sender_name="A\x00da",
    ))

    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))
    assert got.ticket.subject == "Browsers"
    assert [m.content for m in got.messages] == ["which browsers are supported?"]
