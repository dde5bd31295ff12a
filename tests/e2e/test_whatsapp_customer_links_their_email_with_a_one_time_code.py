"""Verified linking across channels on the running pipeline (issue 12): a WhatsApp customer says
"this is me, <email of an existing email customer>"; the one-time code arrives by email (the
fake Gmail's sent mail) at that address; the customer sends it back on WhatsApp; identity then
has one customer with both addresses, and the next WhatsApp answer acknowledges the earlier
email. The code is in no process's log, no span in Jaeger and no table of any schema."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import asyncpg
from fte.identity.v1 import identity_service_pb2 as id_pb

from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    find_customer,
    gmail_sent_to,
    new_email_address,
    new_phone,
    post_whatsapp,
    twilio_sent_to,
    until,
    whatsapp_answer,
)
from tests.e2e.pipeline import LOG_DIR

SUBJECT = "CSV export fails"


def _log_sizes() -> dict[str, int]:
    return {p.name: p.stat().st_size for p in LOG_DIR.glob("*.log")}


def _logs_since(sizes: dict[str, int]) -> str:
    text = []
    for path in LOG_DIR.glob("*.log"):
        with open(path, "rb") as f:
            f.seek(sizes.get(path.name, 0))
            text.append(f.read().decode(errors="replace"))
    return "\n".join(text)


def _standalone(code: str) -> re.Pattern:
    """The code as a number of its own (not inside hex ids or a timestamp's microseconds)."""
    return re.compile(rf"(?<![0-9a-f.]){code}(?![0-9a-f])")


async def test_a_code_sent_by_email_and_returned_on_whatsapp_joins_the_two_customers(
    channel_fakes, http, identity, stack, jaeger
):
    logs_before = _log_sizes()
    started = datetime.now(timezone.utc)
    address, phone = new_email_address("ada"), new_phone()
    await email_customer(channel_fakes, http, customer_email(
        address, SUBJECT, "Exporting my board to CSV gives an empty file.", name="Ada"))
    await email_answer(channel_fakes, address)
    email_owner = await find_customer(identity, email=address)
    assert email_owner is not None

    # 1. On WhatsApp (Twilio-signed: verified) the customer claims the email address.
    accepted = await post_whatsapp(channel_fakes, phone, f"this is me, {address}", profile="Ada")
    assert accepted.status_code == 200
    offer = " ".join(m["Body"] for m in await whatsapp_answer(channel_fakes, phone))
    assert "6-digit code" in offer and f"{address[0]}•••@example.com" in offer, offer

    # 2. The code went to the claimed address by email (the Gmail sender), not to WhatsApp.
    mail = await until(
        lambda: [s for s in gmail_sent_to(channel_fakes, address)
                 if "verification code" in str(s.mime["Subject"])],
        f"the code mail to {address}")
    body = mail[0].mime.get_body(("plain",)).get_content()
    code = re.search(r"\b(\d{6})\b", body).group(1)
    assert code not in offer
    sent_before = len(twilio_sent_to(channel_fakes, phone))

    # 3. Sent back on the first channel: linked.
    await post_whatsapp(channel_fakes, phone, f"the code is {code}", profile="Ada")
    linked = " ".join(m["Body"] for m in await whatsapp_answer(channel_fakes, phone, after=sent_before))
    assert "accounts are now linked" in linked, linked

    # One customer with both addresses, found by either.
    by_phone = await find_customer(identity, phone=phone)
    by_email = await find_customer(identity, email=address)
    assert by_phone.customer_id == by_email.customer_id
    assert {i.value for i in by_phone.identifiers} >= {address, phone}
    merged = await identity.GetCustomer(id_pb.GetCustomerRequest(customer_id=email_owner.customer_id))
    assert merged.customer.merged_into_customer_id == by_phone.customer_id

    # 4. From now on the WhatsApp answers know the email history.
    sent_before = len(twilio_sent_to(channel_fakes, phone))
    await post_whatsapp(channel_fakes, phone, "How do I reset my password? The link never arrives.",
                        profile="Ada")
    answer = " ".join(m["Body"] for m in await whatsapp_answer(channel_fakes, phone, after=sent_before))
    assert f'about "{SUBJECT}"' in answer and "I see you emailed us" in answer, answer

    # 5. The code is in no log line of any process, no span attribute and no row of any table.
    assert not _standalone(code).search(_logs_since(logs_before))
    async def exported():
        spans = await jaeger.all_spans(started)
        return spans if any(s.name.endswith("IdentityService/ConfirmLink") for s in spans) else None

    spans = await until(exported, "the ConfirmLink span in Jaeger")
    assert any("messaging.destination.name" in s.text for s in spans), "attributes are read back"
    assert not [s.name for s in spans if _standalone(code).search(s.text)]
    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        pattern = f"(^|[^0-9a-f.]){code}($|[^0-9a-f])"
        found = [t["table_name"] for t in tables if await conn.fetchval(
            f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" t WHERE t::text ~ $1',
            pattern)]
    finally:
        await conn.close()
    assert not found, f"the code is stored in {found}"
