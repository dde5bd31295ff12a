"""A web form gives email and phone together; a later WhatsApp message from that phone finds
the same customer. LinkIdentifier attaches an address explicitly, and never takes one that
another customer owns."""

from __future__ import annotations

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import rpc_error, unique_email, unique_us_phone


async def test_web_form_email_and_phone_make_a_later_whatsapp_message_find_the_customer(identity):
    address = unique_email("form")
    national, e164 = unique_us_phone()
    by_email = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=address, display_name="Grace")
    )
    form = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(
            channel=CHANNEL_WEB_FORM, email=address, phone=national, default_region="US",
            display_name="Grace Hopper",
        )
    )
    assert form.customer.customer_id == by_email.customer.customer_id
    assert [(i.type, i.value) for i in form.linked_identifiers] == [(pb.IDENTIFIER_TYPE_PHONE, e164)]
    assert form.linked_identifiers[0].first_seen_channel == CHANNEL_WEB_FORM

    whatsapp = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{e164}")
    )
    assert whatsapp.customer.customer_id == by_email.customer.customer_id
    assert not whatsapp.created and not whatsapp.linked_identifiers


async def test_link_identifier_attaches_a_phone_that_whatsapp_then_resolves(identity):
    customer = (await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=unique_email("link"))
    )).customer
    national, e164 = unique_us_phone()

    linked = await identity.LinkIdentifier(
        pb.LinkIdentifierRequest(
            customer_id=customer.customer_id, type=pb.IDENTIFIER_TYPE_PHONE, value=national,
            channel=CHANNEL_WEB_FORM, default_region="US",
        )
    )
    assert not linked.already_linked
    assert e164 in [i.value for i in linked.customer.identifiers]

    again = await identity.LinkIdentifier(
        pb.LinkIdentifierRequest(
            customer_id=customer.customer_id, type=pb.IDENTIFIER_TYPE_PHONE, value=f"whatsapp:{e164}"
        )
    )
    assert again.already_linked

    whatsapp = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=e164)
    )
    assert whatsapp.customer.customer_id == customer.customer_id


async def test_an_address_owned_by_another_customer_is_not_moved(identity):
    owner_email = unique_email("owner")
    owner = (await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=owner_email)
    )).customer
    other = (await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=unique_email("other"))
    )).customer

    err = await rpc_error(identity.LinkIdentifier(
        pb.LinkIdentifierRequest(
            customer_id=other.customer_id, type=pb.IDENTIFIER_TYPE_EMAIL, value=owner_email.upper()
        )
    ))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert owner.customer_id in err.details() and "MergeCustomers" in err.details()
    still = await identity.LookupCustomer(pb.LookupCustomerRequest(email=owner_email))
    assert still.customer.customer_id == owner.customer_id


async def test_resolve_with_addresses_of_two_customers_moves_nothing(identity):
    # Email owned by A, phone owned by B, both on one web form: the form's email decides,
    # and the phone stays with B until a person merges them.
    address = unique_email("split")
    national, e164 = unique_us_phone()
    a = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_EMAIL, email=address))).customer
    b = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=e164))).customer

    form = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_WEB_FORM, email=address, phone=national, default_region="US")
    )
    assert form.customer.customer_id == a.customer_id
    assert not form.linked_identifiers
    by_phone = await identity.LookupCustomer(pb.LookupCustomerRequest(phone=e164))
    assert by_phone.customer.customer_id == b.customer_id
    ambiguous = await rpc_error(identity.LookupCustomer(pb.LookupCustomerRequest(email=address, phone=e164)))
    assert ambiguous.code() == grpc.StatusCode.FAILED_PRECONDITION
