"""Issue 12, the attack end to end: a customer emails us (Gmail's DMARC pass proves the
address), then someone else types that email into the web form. They get an answer to their
question, but the reply says nothing of the earlier email, the ticket page shows only this
ticket's messages, and the claimed phone is linked to nobody. With the host page's identity
token the same submission is the proven customer, and the earlier email is acknowledged."""

from __future__ import annotations

from services.edge.identity_token import identity_token
from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    find_customer,
    history,
    inbound,
    new_email_address,
    new_phone,
)
from tests.e2e.conftest import E2E_ENV, wait_for_reply

SUBJECT = "Invoice for March is missing"
EMAIL_TEXT = "My invoice for March is missing from the billing page, our VAT number is PT509999999."
QUESTION = "How do I create a new API token?"


async def _customer_who_emailed(channel_fakes, http, name: str) -> str:
    address = new_email_address(name.lower())
    await email_customer(channel_fakes, http, customer_email(address, SUBJECT, EMAIL_TEXT, name=name))
    await email_answer(channel_fakes, address)
    return address


def _form(email: str, **extra) -> dict:
    return {
        "name": "Mallory Example",
        "email": email,
        "subject": "API tokens",
        "category": "technical",
        "message": QUESTION,
        **extra,
    }


async def test_a_claimed_email_gets_an_answer_but_no_earlier_contact(channel_fakes, http, identity, conversation):
    address = await _customer_who_emailed(channel_fakes, http, "Victoria")
    owner = await find_customer(identity, email=address)
    phone = new_phone()

    submitted = await http.post("/support/submit", json=_form(address, phone=phone))
    assert submitted.status_code == 202
    ticket_id = submitted.json()["ticket_id"]
    view = await wait_for_reply(http, ticket_id)

    reply = view["messages"][-1]["content"]
    assert "Settings → Developer → Tokens" in reply  # the question is answered
    for leak in ("I see you", "emailed", SUBJECT, "invoice", "PT509999999", "Victoria"):
        assert leak not in reply, leak
    # The public ticket page shows this ticket's own messages and nothing else.
    assert [m["role"] for m in view["messages"]] == ["customer", "agent"]
    assert view["messages"][0]["content"] == QUESTION
    assert all(EMAIL_TEXT not in m["content"] for m in view["messages"])
    # The claim joined nothing: the owner is unchanged and the typed phone belongs to nobody.
    assert (await find_customer(identity, email=address)).identifiers == owner.identifiers
    assert await find_customer(identity, phone=phone) is None


async def test_a_signed_in_customer_hears_about_their_earlier_email(channel_fakes, http, identity, conversation):
    address = await _customer_who_emailed(channel_fakes, http, "Vera")
    token = identity_token(address, E2E_ENV["WEBFORM_IDENTITY_SECRET"])

    submitted = await http.post("/support/submit", json=_form(address, name="Vera", identity_token=token))
    assert submitted.status_code == 202
    view = await wait_for_reply(http, submitted.json()["ticket_id"])

    reply = view["messages"][-1]["content"]
    assert "I see you emailed us on" in reply and f'about "{SUBJECT}"' in reply
    assert "Settings → Developer → Tokens" in reply
    # Still only this ticket's messages on the page: the acknowledgement is the agent's words.
    assert [m["role"] for m in view["messages"]] == ["customer", "agent"]
    email_in, form_in = inbound(await history(identity, conversation, email=address))
    assert email_in.ticket_id != form_in.ticket_id == view["ticket_id"]


async def test_a_bad_identity_token_is_refused_and_never_reaches_the_pipeline(
    channel_fakes, http, identity, conversation
):
    address = await _customer_who_emailed(channel_fakes, http, "Walter")
    forged = identity_token(address, "not-the-site-secret")

    refused = await http.post("/support/submit", json=_form(address, message="Forged: " + QUESTION,
                                                            identity_token=forged))
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("identity_token:")

    # Same sender, same partition, so once this later submission is answered the refused one
    # would have been handled too, had it been published.
    later = await http.post("/support/submit", json=_form(address))
    assert later.status_code == 202
    await wait_for_reply(http, later.json()["ticket_id"])
    contents = [m.content for m in inbound(await history(identity, conversation, email=address))]
    assert contents == [EMAIL_TEXT, QUESTION]
