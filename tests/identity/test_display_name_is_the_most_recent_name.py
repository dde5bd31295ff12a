"""Every name a customer gives is kept per channel; the most recently seen is the display name."""

from __future__ import annotations

from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.identity.v1 import identity_service_pb2 as pb

from tests.running_services import unique_email, unique_us_phone


async def test_names_are_kept_per_channel_and_the_latest_shows(identity):
    address = unique_email("names")
    national, e164 = unique_us_phone()
    seen = [
        (CHANNEL_EMAIL, {"email": address}, "Katherine Johnson"),
        (CHANNEL_WEB_FORM, {"email": address, "phone": national, "default_region": "US"}, "Kathy J"),
        (CHANNEL_WHATSAPP, {"whatsapp": e164}, "  Katie   "),
        (CHANNEL_EMAIL, {"email": address}, "K. Johnson"),
    ]
    for channel, fields, name in seen:
        reply = await identity.ResolveCustomer(
            pb.ResolveCustomerRequest(channel=channel, display_name=name, **fields)
        )
    assert reply.customer.display_name == "K. Johnson"
    assert {(n.channel, n.name) for n in reply.customer.names} == {
        (CHANNEL_EMAIL, "Katherine Johnson"), (CHANNEL_WEB_FORM, "Kathy J"),
        (CHANNEL_WHATSAPP, "Katie"), (CHANNEL_EMAIL, "K. Johnson"),
    }

    # A message without a name changes nothing; an old name seen again becomes current.
    quiet = await identity.ResolveCustomer(pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=e164))
    assert quiet.customer.display_name == "K. Johnson"
    back = await identity.ResolveCustomer(
        pb.ResolveCustomerRequest(channel=CHANNEL_WHATSAPP, whatsapp=e164, display_name="Katie")
    )
    assert back.customer.display_name == "Katie"
    assert len(back.customer.names) == 4
