"""Bad input answers INVALID_ARGUMENT naming the field, and nothing is stored; unknown ids
answer NOT_FOUND. Never UNKNOWN or INTERNAL for what the caller sent."""

from __future__ import annotations

import grpc
import pytest
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import new_id, rpc_error, unique_email

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "fields, field_named",
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ada@@example.com"}, "email"),
        ({"email": "ada@example"}, "email"),
        ({"email": "ada lovelace@example.com"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "+1 202 555 01420 99"}, "phone"),
        ({"whatsapp": "whatsapp:+999 1234567"}, "whatsapp"),
        ({"whatsapp": "whatsapp:"}, "whatsapp"),
        ({}, "at least one identifier"),
        ({"email": "   "}, "at least one identifier"),
        ({"phone": "(202) 555-0142", "default_region": "XX"}, "default_region"),
    ],
)
async def test_resolve_rejects_bad_identifiers_naming_the_field(identity, fields, field_named):
    err = await rpc_error(
        identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, **fields))
    )
    assert err.code() == INVALID
    assert field_named in err.details()


@pytest.mark.parametrize("channel, detail", [(0, "channel: required"), (42, "channel: unknown value 42")])
async def test_resolve_requires_a_known_channel(identity, channel, detail):
    err = await rpc_error(
        identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=channel, email=unique_email()))
    )
    assert err.code() == INVALID
    assert detail in err.details()


async def test_a_rejected_message_stores_no_identifier(identity):
    good = unique_email("half")
    err = await rpc_error(
        identity.ResolveCustomer(
            pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=good, phone="12")
        )
    )
    assert err.code() == INVALID
    missing = await rpc_error(identity.LookupCustomer(pb.LookupCustomerRequest(email=good)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "call, code, detail",
    [
        (lambda s: s.GetCustomer(pb.GetCustomerRequest(customer_id="nope")), INVALID, "customer_id"),
        (lambda s: s.GetCustomer(pb.GetCustomerRequest()), INVALID, "customer_id: required"),
        (lambda s: s.GetCustomer(pb.GetCustomerRequest(customer_id=new_id())), grpc.StatusCode.NOT_FOUND, "does not exist"),
        (lambda s: s.LookupCustomer(pb.LookupCustomerRequest()), INVALID, "email or phone"),
        (lambda s: s.LookupCustomer(pb.LookupCustomerRequest(phone="x1")), INVALID, "phone"),
        (lambda s: s.LookupCustomer(pb.LookupCustomerRequest(email=unique_email())), grpc.StatusCode.NOT_FOUND, "no customer"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id="1", type=1, value="a@b.example")), INVALID, "customer_id"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id=new_id(), value="a@b.example")), INVALID, "type: required"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id=new_id(), type=7, value="a@b.example")), INVALID, "type: unknown value 7"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id=new_id(), type=1, value=" ")), INVALID, "value: required"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id=new_id(), type=2, value="+1 12")), INVALID, "value"),
        (lambda s: s.LinkIdentifier(pb.LinkIdentifierRequest(customer_id=new_id(), type=1, value="a@b.example")), grpc.StatusCode.NOT_FOUND, "does not exist"),
        (lambda s: s.MergeCustomers(pb.MergeCustomersRequest(source_customer_id="x", target_customer_id=new_id(), requested_by="t")), INVALID, "source_customer_id"),
        (lambda s: s.MergeCustomers(pb.MergeCustomersRequest(source_customer_id=new_id(), target_customer_id="", requested_by="t")), INVALID, "target_customer_id: required"),
        (lambda s: s.MergeCustomers(pb.MergeCustomersRequest(source_customer_id=new_id(), target_customer_id=new_id(), requested_by="t")), grpc.StatusCode.NOT_FOUND, "does not exist"),
    ],
)
async def test_every_rpc_answers_bad_input_and_unknown_ids_with_typed_errors(identity, call, code, detail):
    err = await rpc_error(call(identity))
    assert err.code() == code
    assert detail in err.details()
