"""What a claim proves (issue 12): a web form without an identity token only claims its email
and phone. The message goes to the owner of the claimed email (or a new customer holding just
that email), and the claim never links its other address and never joins two customers."""

from __future__ import annotations

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import rpc_error, unique_email, unique_us_phone


def _claim(email: str, phone: str = "", name: str = "") -> pb.ResolveCustomerRequest:
    return pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=email, phone=phone, default_region="US",
        display_name=name, assurance=SENDER_ASSURANCE_CLAIMED,
    )


async def test_a_claim_naming_two_customers_does_not_join_them(identity):
    a_email = unique_email("a")
    _, b_phone = unique_us_phone()
    a = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=a_email, display_name="Ada", assurance=SENDER_ASSURANCE_VERIFIED,
    ))).customer
    b = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{b_phone}", display_name="Bob",
    ))).customer

    claimed = await identity.ResolveCustomer(_claim(a_email, b_phone, name="Mallory"))

    assert claimed.customer.customer_id == a.customer_id
    assert not claimed.created and list(claimed.linked_identifiers) == []
    after_a = (await identity.GetCustomer(pb.GetCustomerRequest(customer_id=a.customer_id))).customer
    after_b = (await identity.GetCustomer(pb.GetCustomerRequest(customer_id=b.customer_id))).customer
    assert [i.value for i in after_a.identifiers] == [a_email]
    assert [i.value for i in after_b.identifiers] == [b_phone]
    assert not after_a.merged_into_customer_id and not after_b.merged_into_customer_id
    # Nobody renames a customer by typing their address.
    assert after_a.display_name == "Ada" and "Mallory" not in [n.name for n in after_a.names]
    err = await rpc_error(identity.LookupCustomer(pb.LookupCustomerRequest(email=a_email, phone=b_phone)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_claimed_phone_is_not_linked_so_whatsapp_from_it_is_someone_else(identity):
    a_email = unique_email("owner")
    _, phone = unique_us_phone()
    a = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=a_email, assurance=SENDER_ASSURANCE_VERIFIED,
    ))).customer

    claimed = await identity.ResolveCustomer(_claim(a_email, phone))
    later = await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WHATSAPP, whatsapp=f"whatsapp:{phone}", assurance=SENDER_ASSURANCE_VERIFIED,
    ))

    assert claimed.customer.customer_id == a.customer_id and not claimed.linked_identifiers
    assert later.created and later.customer.customer_id != a.customer_id


async def test_a_claim_for_new_addresses_creates_a_customer_with_the_email_only(identity):
    email = unique_email("new")
    _, phone = unique_us_phone()

    claimed = await identity.ResolveCustomer(_claim(email, phone, name="Grace"))

    assert claimed.created
    assert [(i.type, i.value) for i in claimed.linked_identifiers] == [(pb.IDENTIFIER_TYPE_EMAIL, email)]
    assert claimed.customer.display_name == "Grace"
    # The proven owner of the email finds that customer; the phone stays nobody's.
    proven = await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=email, assurance=SENDER_ASSURANCE_VERIFIED,
    ))
    assert proven.customer.customer_id == claimed.customer.customer_id
    err = await rpc_error(identity.LookupCustomer(pb.LookupCustomerRequest(phone=phone)))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_verified_web_form_still_links_its_phone(identity):
    email = unique_email("signed-in")
    _, phone = unique_us_phone()
    owner = (await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_EMAIL, email=email, assurance=SENDER_ASSURANCE_VERIFIED,
    ))).customer

    form = await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=CHANNEL_WEB_FORM, email=email, phone=phone, assurance=SENDER_ASSURANCE_VERIFIED,
    ))

    assert form.customer.customer_id == owner.customer_id
    assert [i.value for i in form.linked_identifiers] == [phone]
