"""Bad UUIDs, empty required fields and unknown enum values answer INVALID_ARGUMENT naming the
field; unknown ids answer NOT_FOUND. Never UNKNOWN or INTERNAL for what the caller sent."""

from __future__ import annotations

import grpc
import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL
from fte.conversation.v1 import conversation_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id, rpc_error

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "request_, detail",
    [
        (inbound("not-a-uuid"), "customer_id: 'not-a-uuid' is not a UUID"),
        (inbound(""), "customer_id: required"),
        (inbound(new_id(), channel=0), "channel: required"),
        (inbound(new_id(), channel=12), "channel: unknown value 12"),
        (inbound(new_id(), idempotency_key=" "), "idempotency_key: required"),
        (inbound(new_id(), idempotency_key="k" * 513), "idempotency_key: longer than 512"),
        (inbound(new_id(), content="x" * 100_001), "content: longer than 100000"),
        (inbound(new_id(), category="gossip"), "category"),
        (inbound(new_id(), priority=8), "priority: unknown value 8"),
        (inbound(new_id(), requested_ticket_id="T-1"), "requested_ticket_id"),
        # Found by tests/fuzz: a Timestamp outside years 1-9999 was INTERNAL.
        (inbound(new_id(), receive_time=Timestamp(seconds=-(2**62))), "receive_time: Timestamp is not valid"),
        (inbound(new_id(), receive_time=Timestamp(nanos=-1)), "receive_time: Timestamp is not valid"),
    ],
)
async def test_record_inbound_refuses_bad_fields_by_name(conversation, request_, detail):
    err = await rpc_error(conversation.RecordInbound(request_))
    assert err.code() == INVALID
    assert detail in err.details()


@pytest.mark.parametrize(
    "call, code, detail",
    [
        (lambda s: s.GetTicket(pb.GetTicketRequest(ticket_id="42")), INVALID, "ticket_id"),
        (lambda s: s.GetTicket(pb.GetTicketRequest(ticket_id=new_id())), NOT_FOUND, "ticket"),
        (lambda s: s.GetConversation(pb.GetConversationRequest()), INVALID, "conversation_id: required"),
        (lambda s: s.GetConversation(pb.GetConversationRequest(conversation_id=new_id())), NOT_FOUND, "conversation"),
        (lambda s: s.ListConversations(pb.ListConversationsRequest(customer_id="ada")), INVALID, "customer_id"),
        (lambda s: s.GetHistory(pb.GetHistoryRequest(customer_id="")), INVALID, "customer_id: required"),
        (lambda s: s.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(delivery_status=2)), INVALID, "reply_id: required"),
        (lambda s: s.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(reply_id="r", delivery_status=0)), INVALID, "delivery_status: required"),
        # Found by tests/fuzz: PostgreSQL cannot store U+0000, which was INTERNAL.
        (lambda s: s.UpdateDeliveryStatus(pb.UpdateDeliveryStatusRequest(reply_id="r\x00", delivery_status=2)),
         INVALID, "reply_id: U+0000 (NUL) cannot be stored"),
        (lambda s: s.GetChannelMetrics(pb.GetChannelMetricsRequest(since_time=Timestamp(seconds=2**62))),
         INVALID, "since_time: Timestamp is not valid"),
    ],
)
async def test_reads_answer_typed_errors(conversation, call, code, detail):
    err = await rpc_error(call(conversation))
    assert err.code() == code
    assert detail in err.details()


async def test_a_reply_whose_tool_call_holds_nul_is_refused_and_not_recorded(conversation):
    """Found by tests/fuzz: jsonb refuses "\u0000" with another error than text does, and a NUL in
    a tool call's arguments was INTERNAL."""
    ticket = await conversation.RecordInbound(inbound(new_id(), CHANNEL_EMAIL, content="Export?"))
    err = await rpc_error(conversation.RecordOutbound(outbound(ticket.ticket_id, tool_calls=[
        pb.ToolCall(name="search_knowledge_base", arguments_json='{"query": "a\x00b"}')])))
    assert err.code() == INVALID
    assert "tool_calls.arguments_json: U+0000 (NUL) cannot be stored" in err.details()
    got = await conversation.GetConversation(pb.GetConversationRequest(
        conversation_id=ticket.conversation_id))
    assert [m.content for m in got.messages] == ["Export?"]  # the customer's, and no reply


async def test_unknown_customer_has_no_conversations(conversation):
    listed = await conversation.ListConversations(pb.ListConversationsRequest(customer_id=new_id()))
    assert list(listed.conversations) == []


async def test_an_accepted_category_is_case_insensitive(conversation):
    reply = await conversation.RecordInbound(inbound(new_id(), CHANNEL_EMAIL, category=" Billing "))
    got = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=reply.ticket_id))
    assert got.ticket.category == "billing"
