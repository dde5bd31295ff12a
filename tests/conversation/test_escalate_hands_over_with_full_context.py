"""Escalate writes an escalation with the context a person needs (messages, channels, the
customer's email / phone / WhatsApp numbers from IdentityService, thread refs), marks ticket and
conversation escalated, and is idempotent per ticket+reason."""

from __future__ import annotations

import functools
import json

import grpc
import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb
from fte.conversation.v1 import conversation_service_pb2_grpc as pb_grpc
from fte.identity.v1 import identity_service_pb2 as id_pb
from fte.identity.v1 import identity_service_pb2_grpc as id_grpc

from devstack import migrate
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.conversation import server as conversation_server
from services.identity import server as identity_server
from tests.conversation.helpers import inbound, outbound
from tests.running_services import free_port, new_id, rpc_error, unique_email, unique_us_phone


@pytest.fixture
async def conversation_without_identity(stack, clock, service_auth, admin_key):
    """A second conversation service on the same database whose IdentityService is a port
    nobody listens on."""
    settings = conversation_server.ConversationSettings(
        grpc_port=0, database_url=migrate.service_dsn(stack.admin_dsn, "conversation"),
        identity_addr=f"127.0.0.1:{free_port()}", identity_timeout_s=1, **service_auth("conversation"),
    )
    build = functools.partial(conversation_server.build, settings=settings, clock=clock)
    async with running("conversation-no-identity", settings, build) as svc:
        async with open_channel(f"127.0.0.1:{svc.port}", timeout_s=15, credential=admin_key) as channel:
            yield pb_grpc.ConversationServiceStub(channel)


async def _customer_on_three_channels(identity) -> tuple[str, str, str, str]:
    """A web-form customer (email + phone) who later writes from another number on WhatsApp."""
    email = unique_email("esc")
    phone_national, phone = unique_us_phone()
    _, whatsapp = unique_us_phone()
    customer = (await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=email, phone=phone_national, default_region="US",
        display_name="Ada Lovelace"))).customer.customer_id
    await identity.LinkIdentifier(id_pb.LinkIdentifierRequest(
        customer_id=customer, type=id_pb.IDENTIFIER_TYPE_PHONE, value=f"whatsapp:{whatsapp}",
        channel=CHANNEL_WHATSAPP))
    return customer, email, phone, whatsapp


async def test_escalation_carries_the_customers_addresses_from_identity(conversation, identity):
    customer, email, phone, whatsapp = await _customer_on_three_channels(identity)
    first = await conversation.RecordInbound(inbound(customer, CHANNEL_WEB_FORM, "Can I get a refund?"))
    second = await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP, "Hello? A refund please"))

    reply = await conversation.Escalate(pb.EscalateRequest(
        ticket_id=second.ticket_id, reason=pb.ESCALATION_REASON_REFUND))

    context = json.loads(reply.escalation.context_json)
    customer_part = {**context["customer"], "phone": sorted(context["customer"]["phone"])}
    assert customer_part == {
        "customer_id": customer,
        "lookup": "ok",
        "display_name": "Ada Lovelace",
        "email": [email],
        "phone": sorted([phone, whatsapp]),
        "whatsapp": [whatsapp],
    }
    assert context["channels"] == ["web_form", "whatsapp"]
    assert [m["content"] for m in context["messages"]] == ["Can I get a refund?", "Hello? A refund please"]
    assert context["messages"][0]["ticket_id"] == first.ticket_id


async def test_without_identity_the_hand_over_is_written_and_a_retry_fills_in_the_addresses(
        conversation, conversation_without_identity, identity):
    customer, email, _, _ = await _customer_on_three_channels(identity)
    ticket_id = (await conversation.RecordInbound(inbound(customer, CHANNEL_EMAIL, "Lawyer here"))).ticket_id
    request = pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_LEGAL)

    degraded = await conversation_without_identity.Escalate(request)
    assert not degraded.duplicate
    customer_part = json.loads(degraded.escalation.context_json)["customer"]
    assert customer_part["customer_id"] == customer and customer_part["lookup"] == "failed"
    assert "UNAVAILABLE" in customer_part["lookup_error"] and "email" not in customer_part
    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))
    assert ticket.ticket.status == pb.TICKET_STATUS_ESCALATED

    retried = await conversation.Escalate(request)
    assert retried.duplicate and retried.escalation.escalation_id == degraded.escalation.escalation_id
    filled = json.loads(retried.escalation.context_json)
    assert filled["customer"]["lookup"] == "ok" and filled["customer"]["email"] == [email]
    assert [m["content"] for m in filled["messages"]] == ["Lawyer here"]  # the rest is untouched
    stored = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))
    assert json.loads(stored.escalations[0].context_json)["customer"]["email"] == [email]


async def test_a_customer_identity_never_saw_is_named_as_such(conversation):
    customer = new_id()
    ticket_id = (await conversation.RecordInbound(inbound(customer))).ticket_id
    reply = await conversation.Escalate(pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_OTHER))
    assert json.loads(reply.escalation.context_json)["customer"] == {"customer_id": customer, "lookup": "not_found"}


async def test_a_ticket_left_on_a_merged_away_customer_shows_the_merge_targets_addresses(
        stack, conversation, identity, service_auth, admin_key):
    """Identity commits a merge before conversation moves the tickets; a ticket escalated in
    between still gets the live customer's addresses."""
    target_email, source_email = unique_email("target"), unique_email("source")
    target = (await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=target_email))).customer.customer_id
    source = (await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=source_email))).customer.customer_id
    ticket_id = (await conversation.RecordInbound(inbound(source, content="still on the source"))).ticket_id

    # An identity whose ConversationService is unreachable: the merge commits in identity only.
    settings = identity_server.IdentitySettings(
        grpc_port=0, database_url=migrate.service_dsn(stack.admin_dsn, "identity"),
        conversation_addr=f"127.0.0.1:{free_port()}", rpc_timeout_s=1, **service_auth("identity"),
    )
    async with running("identity-no-conversation", settings,
                       functools.partial(identity_server.build, settings=settings)) as svc:
        async with open_channel(f"127.0.0.1:{svc.port}", timeout_s=15, credential=admin_key) as channel:
            err = await rpc_error(id_grpc.IdentityServiceStub(channel).MergeCustomers(id_pb.MergeCustomersRequest(
                source_customer_id=source, target_customer_id=target, requested_by="ops")))
    assert err.code() == grpc.StatusCode.UNAVAILABLE

    reply = await conversation.Escalate(pb.EscalateRequest(ticket_id=ticket_id, reason=pb.ESCALATION_REASON_OTHER))
    customer_part = json.loads(reply.escalation.context_json)["customer"]
    assert customer_part["customer_id"] == source
    assert customer_part["merged_into_customer_id"] == target
    assert sorted(customer_part["email"]) == sorted([target_email, source_email])


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
