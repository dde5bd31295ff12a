"""ReassignCustomer (used by identity merges) moves every conversation, ticket and message of
one customer to another; the target keeps a single open conversation."""

from __future__ import annotations

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
