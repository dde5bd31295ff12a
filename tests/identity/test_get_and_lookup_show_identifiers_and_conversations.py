"""GetCustomer and LookupCustomer (by email or phone) return the customer with identifiers,
names and the conversations ConversationService holds for them; GetCustomer's basic view
leaves the conversations out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest

from fte.common.v1.channel_pb2 import CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import unique_email, unique_us_phone


async def test_get_and_lookup_return_identifiers_names_and_conversations(identity, conversation, clock):
    address = unique_email("get")
    national, e164 = unique_us_phone()
    customer = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=address, phone=national, default_region="US", display_name="Hedy"
    ))).customer
    clock.pin(datetime(2034, 5, 1, 9, tzinfo=UTC))
    conversations = []
    for channel in (CHANNEL_WEB_FORM, CHANNEL_WHATSAPP):  # two conversations, two days apart
        reply = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
            customer_id=customer.customer_id, channel=channel, idempotency_key=uuid.uuid4().hex,
            content="hello"))
        conversations.append(reply.conversation_id)
        clock.advance(days=2)

    got = (await identity.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id))).customer
    assert {(i.type, i.value, i.first_seen_channel) for i in got.identifiers} == {
        (pb.IDENTIFIER_TYPE_EMAIL, address, CHANNEL_WEB_FORM), (pb.IDENTIFIER_TYPE_PHONE, e164, CHANNEL_WEB_FORM)}
    assert got.display_name == "Hedy" and not got.merged_into_customer_id
    assert [c.conversation_id for c in got.conversations] == conversations[::-1]  # newest first
    assert [(c.status, c.initial_channel) for c in got.conversations] == [
        ("CLOSED", CHANNEL_WHATSAPP), ("CLOSED", CHANNEL_WEB_FORM)]  # both silent > 24 h by now

    for lookup in (pb.LookupCustomerRequest(email=address.upper()),
                   pb.LookupCustomerRequest(phone=f"whatsapp:{e164}"),
                   pb.LookupCustomerRequest(phone=national, default_region="US"),
                   pb.LookupCustomerRequest(email=address, phone=e164)):
        found = (await identity.LookupCustomer(lookup)).customer
        assert found.customer_id == customer.customer_id
        assert len(found.conversations) == 2 and len(found.identifiers) == 2


async def test_the_basic_view_leaves_conversations_out_and_an_unknown_view_is_refused(
        identity, conversation):
    address = unique_email("basic")
    customer = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=address, display_name="Grace"))).customer
    await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer.customer_id, channel=CHANNEL_WEB_FORM,
        idempotency_key=uuid.uuid4().hex, content="hello"))

    full, basic, unspecified = [
        (await identity.GetCustomer(pb.GetCustomerRequest(
            customer_id=customer.customer_id, view=view))).customer
        for view in (pb.CUSTOMER_VIEW_FULL, pb.CUSTOMER_VIEW_BASIC, pb.CUSTOMER_VIEW_UNSPECIFIED)]
    assert len(full.conversations) == 1 and unspecified == full
    assert not basic.conversations
    assert basic.display_name == "Grace"
    assert [i.value for i in basic.identifiers] == [address]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await identity.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id, view=7))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "view" in refused.value.details()


async def test_a_new_customer_is_answered_as_getcustomer_then_shows_it(identity):
    """ResolveCustomer's answer for a customer it creates is the stored customer, field for
    field (identifiers in their listed order, name, times), not a guess at it."""
    national, _ = unique_us_phone()
    created = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=unique_email("new"), phone=national,
        default_region="US", display_name="Ada"))).customer
    got = (await identity.GetCustomer(pb.GetCustomerRequest(customer_id=created.customer_id))).customer
    assert [i.type for i in created.identifiers] == [pb.IDENTIFIER_TYPE_EMAIL, pb.IDENTIFIER_TYPE_PHONE]
    assert created == got
