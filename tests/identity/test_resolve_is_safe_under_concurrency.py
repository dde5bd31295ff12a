"""50 simultaneous ResolveCustomer calls for one new address create exactly one customer:
the identifier's primary key plus an upsert decide, not a check-then-insert."""

from __future__ import annotations

import asyncio

from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import unique_email, unique_us_phone


async def test_fifty_simultaneous_calls_for_a_new_address_create_one_customer(identity, admin_db):
    address = unique_email("rush")
    variants = [address, address.upper(), f"  {address}", f"Rush <{address}>"]
    replies = await asyncio.gather(*(
        identity.ResolveCustomer(
            pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=variants[i % 4], display_name=f"R{i}")
        )
        for i in range(50)
    ))
    assert len({r.customer.customer_id for r in replies}) == 1
    assert sum(r.created for r in replies) == 1
    owners = await admin_db.fetch(
        "SELECT customer_id FROM identity.customer_identifiers WHERE value = $1", address
    )
    assert len(owners) == 1
    assert str(owners[0]["customer_id"]) == replies[0].customer.customer_id


async def test_overlapping_simultaneous_calls_never_give_an_address_two_owners(identity, admin_db):
    # A web form (email + phone) racing WhatsApp messages from that phone and emails from
    # that address. Who commits first decides whether the phone joins the email's customer
    # (two customers with a shared person are only ever joined by MergeCustomers), but each
    # address has exactly one owner and every reply is that owner of the channel's address.
    address = unique_email("overlap")
    national, e164 = unique_us_phone()
    requests = [
        pb.ResolveCustomerRequest(channel=CHANNEL_WEB_FORM, email=address, phone=national, default_region="US"),
        pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{e164}"),
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=address.upper()),
    ] * 10
    replies = await asyncio.gather(*(identity.ResolveCustomer(r) for r in requests))

    rows = await admin_db.fetch(
        "SELECT value, customer_id::text AS owner FROM identity.customer_identifiers"
        " WHERE value = ANY($1::text[])", [address, e164],
    )
    owner = {r["value"]: r["owner"] for r in rows}
    assert len(rows) == 2 and set(owner) == {address, e164}
    for request, reply in zip(requests, replies, strict=True):
        expected = owner[e164] if request.channel == CHANNEL_WHATSAPP else owner[address]
        assert reply.customer.customer_id == expected
