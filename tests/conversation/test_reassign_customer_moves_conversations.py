"""ReassignCustomer (used by identity merges) moves every conversation, ticket and message of
one customer to another; the target keeps a single open conversation, never losing sight of an
escalated one; a message for the merged-away customer that arrives later goes to the target."""

from __future__ import annotations

import asyncio

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from tests.conversation.helpers import inbound
from tests.running_services import new_id, rpc_error


async def test_reassign_moves_everything_and_leaves_one_open_conversation(conversation):
    source, target = new_id(), new_id()
    older = await conversation.RecordInbound(inbound(target, CHANNEL_EMAIL, "first, on email"))
    newer = await conversation.RecordInbound(inbound(source, CHANNEL_WHATSAPP, "then, on whatsapp"))

    moved = await conversation.ReassignCustomer(
        pb.ReassignCustomerRequest(source_customer_id=source, target_customer_id=target))
    assert (moved.conversations_moved, moved.messages_moved) == (1, 1)
    assert list(moved.closed_conversation_ids) == [older.conversation_id]

    listed = await conversation.ListConversations(pb.ListConversationsRequest(customer_id=target))
    status = {c.conversation_id: c.status for c in listed.conversations}
    assert status == {newer.conversation_id: pb.CONVERSATION_STATUS_ACTIVE,
                      older.conversation_id: pb.CONVERSATION_STATUS_CLOSED}
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=target))
    assert [m.content for m in history.messages] == ["first, on email", "then, on whatsapp"]
    assert {m.customer_id for m in history.messages} == {target}
    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=newer.ticket_id))
    assert ticket.ticket.customer_id == target

    # The next message joins the surviving open conversation; the source has nothing left.
    nxt = await conversation.RecordInbound(inbound(target, CHANNEL_EMAIL))
    assert nxt.conversation_id == newer.conversation_id
    again = await conversation.ReassignCustomer(
        pb.ReassignCustomerRequest(source_customer_id=source, target_customer_id=target))
    assert (again.conversations_moved, again.messages_moved) == (0, 0)


async def test_reassign_refuses_bad_ids(conversation):
    same = new_id()
    for request, detail in (
        (pb.ReassignCustomerRequest(source_customer_id=same, target_customer_id=same), "must differ"),
        (pb.ReassignCustomerRequest(source_customer_id="x", target_customer_id=same), "source_customer_id"),
        (pb.ReassignCustomerRequest(source_customer_id=same), "target_customer_id: required"),
    ):
        err = await rpc_error(conversation.ReassignCustomer(request))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and detail in err.details()


def _reassign(source: str, target: str) -> pb.ReassignCustomerRequest:
    return pb.ReassignCustomerRequest(source_customer_id=source, target_customer_id=target)


async def _escalate(conversation, ticket_id: str) -> None:
    await conversation.Escalate(pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_HUMAN_REQUEST))


async def test_an_escalated_conversation_stays_open_over_a_more_recent_active_one(conversation):
    source, target = new_id(), new_id()
    escalated = await conversation.RecordInbound(inbound(source, CHANNEL_EMAIL, "I want a person"))
    await _escalate(conversation, escalated.ticket_id)
    active = await conversation.RecordInbound(inbound(target, CHANNEL_WHATSAPP, "later, elsewhere"))

    moved = await conversation.ReassignCustomer(_reassign(source, target))
    assert list(moved.closed_conversation_ids) == [active.conversation_id]
    listed = await conversation.ListConversations(pb.ListConversationsRequest(customer_id=target))
    assert {c.conversation_id: c.status for c in listed.conversations} == {
        escalated.conversation_id: pb.CONVERSATION_STATUS_ESCALATED,
        active.conversation_id: pb.CONVERSATION_STATUS_CLOSED,
    }
    # The customer's next message reaches the people already on the escalated conversation.
    nxt = await conversation.RecordInbound(inbound(target, CHANNEL_WHATSAPP, "anyone there?"))
    assert nxt.conversation_id == escalated.conversation_id


async def test_when_both_are_escalated_the_closed_ones_tickets_stay_escalated_with_a_note(conversation, admin_db):
    source, target = new_id(), new_id()
    older = await conversation.RecordInbound(inbound(target, CHANNEL_EMAIL, "refund please"))
    newer = await conversation.RecordInbound(inbound(source, CHANNEL_WHATSAPP, "my lawyer will call"))
    for ticket_id in (older.ticket_id, newer.ticket_id):
        await _escalate(conversation, ticket_id)

    moved = await conversation.ReassignCustomer(_reassign(source, target))
    assert list(moved.closed_conversation_ids) == [older.conversation_id]
    closed = await conversation.GetConversation(pb.GetConversationRequest(conversation_id=older.conversation_id))
    assert closed.conversation.status == pb.CONVERSATION_STATUS_CLOSED
    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=older.ticket_id))
    assert ticket.ticket.status == pb.TICKET_STATUS_ESCALATED
    note = await admin_db.fetchval(
        "SELECT note FROM conversation.ticket_events WHERE ticket_id = $1::uuid ORDER BY event_id DESC LIMIT 1",
        older.ticket_id)
    assert note == (f"conversation {older.conversation_id} closed by the merge of customer {source} into"
                    f" {target}; the customer's open conversation is {newer.conversation_id}")


async def test_a_message_for_a_merged_away_customer_is_recorded_for_the_target(conversation):
    source, target = new_id(), new_id()
    open_one = await conversation.RecordInbound(inbound(target, CHANNEL_EMAIL, "hello from the target"))
    await conversation.ReassignCustomer(_reassign(source, target))

    # Resolved to `source` before the merge, delivered after it.
    late = await conversation.RecordInbound(inbound(source, CHANNEL_WHATSAPP, "late, from the source"))
    assert late.customer_id == target
    assert late.conversation_id == open_one.conversation_id and late.channel_switch.to_channel == CHANNEL_WHATSAPP
    history = await conversation.GetHistory(pb.GetHistoryRequest(customer_id=target))
    assert [m.content for m in history.messages] == ["hello from the target", "late, from the source"]
    assert not (await conversation.GetHistory(pb.GetHistoryRequest(customer_id=source))).messages


async def test_messages_racing_a_merge_all_end_up_on_the_target(conversation, admin_db):
    source, target = new_id(), new_id()
    await conversation.RecordInbound(inbound(target, CHANNEL_EMAIL, "target's first"))
    await conversation.RecordInbound(inbound(source, CHANNEL_EMAIL, "source's first"))
    racing = [conversation.RecordInbound(inbound(source, CHANNEL_WHATSAPP, f"racing {i}")) for i in range(20)]
    results = await asyncio.gather(*racing[:10], conversation.ReassignCustomer(_reassign(source, target)), *racing[10:])
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.messages WHERE customer_id = $1::uuid", source) == 0
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.messages WHERE customer_id = $1::uuid", target) == 22
    assert await admin_db.fetchval(
        "SELECT count(*) FROM conversation.conversations WHERE customer_id = $1::uuid AND status <> 'closed'",
        target) == 1
    assert len({r.message_id for r in results if isinstance(r, pb.RecordInboundResponse)}) == 20


async def test_reassign_follows_later_merges_and_refuses_contradictions(conversation):
    a, b, c = new_id(), new_id(), new_id()
    await conversation.ReassignCustomer(_reassign(b, c))
    # A retried merge of A into B after B went into C: A's messages must not strand on B.
    await conversation.RecordInbound(inbound(a, content="from a"))
    moved = await conversation.ReassignCustomer(_reassign(a, b))
    assert moved.messages_moved == 1
    assert [m.content for m in (await conversation.GetHistory(pb.GetHistoryRequest(customer_id=c))).messages] == ["from a"]

    elsewhere = await rpc_error(conversation.ReassignCustomer(_reassign(a, new_id())))
    assert elsewhere.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"customer {a} was already merged into {b}" in elsewhere.details()
    cycle = await rpc_error(conversation.ReassignCustomer(_reassign(c, a)))
    assert cycle.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "was itself merged into" in cycle.details()
