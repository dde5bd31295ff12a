"""MergeCustomers(source → target): identifiers, conversations and history move to the
target; the merge is recorded (who, when, what moved); nothing is deleted; every name seen
is kept and the most recent is the display name."""

from __future__ import annotations

import json
import uuid

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import rpc_error, unique_email, unique_us_phone


async def _customer_with_a_message(identity, conversation, channel, name, **address):
    customer = (await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=channel, display_name=name, **address)
    )).customer
    await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer.customer_id, channel=channel, idempotency_key=uuid.uuid4().hex,
        content=f"hello from {name}",
    ))
    return customer


async def test_merge_moves_identifiers_conversations_and_history_and_records_it(
    identity, conversation, admin_db, admin_key
):
    email = unique_email("merge")
    _, phone = unique_us_phone()
    target = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "M. Curie", email=email)
    source = await _customer_with_a_message(identity, conversation, CHANNEL_WHATSAPP, "Marie", whatsapp=phone)

    merged = await identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=source.customer_id, target_customer_id=target.customer_id,
        requested_by="agent@flowboard.example", reason="same person, confirmed by phone",
    ))

    assert merged.customer.customer_id == target.customer_id
    assert merged.identifiers_moved == 1 and merged.conversations_moved == 1
    assert {i.value for i in merged.customer.identifiers} == {email, phone}
    assert len(merged.customer.conversations) == 2
    # Every name seen is kept, per channel; the most recent one shows.
    assert {(n.channel, n.name) for n in merged.customer.names} == {
        (CHANNEL_EMAIL, "M. Curie"), (CHANNEL_WHATSAPP, "Marie"),
    }
    assert merged.customer.display_name == "Marie"

    # The phone now resolves to the target, and its history holds both conversations.
    via_phone = await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=phone))
    assert via_phone.customer.customer_id == target.customer_id
    history = await conversation.GetHistory(conv_pb.GetHistoryRequest(customer_id=target.customer_id))
    assert [m.content for m in history.messages] == ["hello from M. Curie", "hello from Marie"]

    # Nothing deleted: the source is still there, pointing at the target.
    kept = await identity.GetCustomer(pb.GetCustomerRequest(customer_id=source.customer_id))
    assert kept.customer.merged_into_customer_id == target.customer_id
    assert [n.name for n in kept.customer.names] == ["Marie"]

    record = await admin_db.fetchrow(
        "SELECT * FROM identity.customer_merges WHERE merge_id = $1", uuid.UUID(merged.merge_id)
    )
    assert str(record["source_customer_id"]) == source.customer_id
    assert str(record["target_customer_id"]) == target.customer_id
    # Who merged is the authenticated caller; what the request says only follows it.
    assert record["requested_by"] == f"api-key:{admin_key.split('_')[1]} for agent@flowboard.example"
    assert record["reason"] == "same person, confirmed by phone"
    assert record["merge_time"] is not None
    assert json.loads(record["identifiers_moved"]) == [{"kind": "phone", "value": phone}]
    assert record["conversations_moved"] == 1 and record["messages_moved"] == 1


async def test_a_retried_merge_returns_the_recorded_one_and_moves_nothing_twice(identity, conversation):
    target = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "T", email=unique_email("t"))
    source = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "S", email=unique_email("s"))
    request = pb.MergeCustomersRequest(
        source_customer_id=source.customer_id, target_customer_id=target.customer_id, requested_by="ops"
    )
    first = await identity.MergeCustomers(request)
    second = await identity.MergeCustomers(request)
    assert second.merge_id == first.merge_id
    assert (second.identifiers_moved, second.conversations_moved) == (1, 1)


async def test_merge_direction_is_explicit_and_chains_are_refused(identity, conversation):
    a = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "A", email=unique_email("a"))
    b = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "B", email=unique_email("b"))
    c = await _customer_with_a_message(identity, conversation, CHANNEL_EMAIL, "C", email=unique_email("c"))
    await identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=a.customer_id, target_customer_id=b.customer_id, requested_by="ops"
    ))

    back = await rpc_error(identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=b.customer_id, target_customer_id=a.customer_id, requested_by="ops"
    )))
    assert back.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"merged into {b.customer_id}" in back.details()

    again = await rpc_error(identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=a.customer_id, target_customer_id=c.customer_id, requested_by="ops"
    )))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION

    into_self = await rpc_error(identity.MergeCustomers(pb.MergeCustomersRequest(
        source_customer_id=c.customer_id, target_customer_id=c.customer_id, requested_by="ops"
    )))
    assert into_self.code() == grpc.StatusCode.INVALID_ARGUMENT

    link_to_merged = await rpc_error(identity.LinkIdentifier(pb.LinkIdentifierRequest(
        customer_id=a.customer_id, type=pb.IDENTIFIER_TYPE_EMAIL, value=unique_email("late")
    )))
    assert link_to_merged.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert b.customer_id in link_to_merged.details()
