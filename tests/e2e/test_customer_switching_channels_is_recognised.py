"""Cross-channel continuity on the running pipeline: a customer emails us (the Gmail loop),
their phone is linked to that email address, and when they then write on WhatsApp they are the
same customer in the same conversation, and the WhatsApp answer acknowledges the earlier email
in the agent's own words: 'I see you emailed us on <date> about "<subject>".'"""

from __future__ import annotations

from datetime import UTC, datetime

from fte.common.v1 import channel_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb

from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    find_customer,
    history,
    inbound,
    new_email_address,
    new_phone,
    post_whatsapp,
    whatsapp_answer,
)

SUBJECT = "Two-factor codes not accepted"


def _agent_date(ts) -> str:
    """How the agent's history tool writes a date (day and month; the year only when not this one)."""
    dt = ts.ToDatetime(tzinfo=UTC)
    return f"{dt.day} {dt:%b}" if dt.year == datetime.now(UTC).year else f"{dt.day} {dt:%b %Y}"


async def test_whatsapp_answer_acknowledges_the_earlier_email_of_the_same_customer(
    channel_fakes, http, identity, conversation
):
    address, phone = new_email_address("linus"), new_phone()
    await email_customer(
        channel_fakes,
        http,
        customer_email(
            address, SUBJECT, "How do I turn on two-factor authentication for my account?", name="Linus"
        ),
    )
    await email_answer(channel_fakes, address)
    customer = await find_customer(identity, email=address)
    assert customer is not None

    linked = await identity.LinkIdentifier(
        id_pb.LinkIdentifierRequest(
            customer_id=customer.customer_id,
            type=id_pb.IDENTIFIER_TYPE_PHONE,
            value=phone,
            channel=channel_pb2.CHANNEL_WHATSAPP,
        )
    )
    assert not linked.already_linked

    accepted = await post_whatsapp(
        channel_fakes, phone, "How do I reset my password? The link never arrives.", profile="Linus"
    )
    assert accepted.status_code == 200
    parts = await whatsapp_answer(channel_fakes, phone)

    # One customer, whichever address they write from.
    assert (await find_customer(identity, phone=phone)).customer_id == customer.customer_id
    messages = await history(identity, conversation, phone=phone)
    email_in, whatsapp_in = inbound(messages)
    assert (email_in.channel, whatsapp_in.channel) == (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_WHATSAPP)
    assert email_in.conversation_id == whatsapp_in.conversation_id, "one conversation across the switch"

    expected = f'I see you emailed us on {_agent_date(email_in.create_time)} about "{SUBJECT}".'
    # First thing after the greeting, then the answer to the WhatsApp question itself.
    assert parts[0]["Body"].startswith(f"Hi Linus! {expected}"), parts[0]["Body"]
    assert "Forgot password" in " ".join(m["Body"] for m in parts)
