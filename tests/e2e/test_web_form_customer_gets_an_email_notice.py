"""With email sending configured, a web-form customer also gets an email saying their ticket
has a reply, with the reply and a link to the ticket page — sent once."""

from __future__ import annotations

import uuid

from tests.e2e.channel_loop import gmail_sent_to, until
from tests.e2e.conftest import wait_for_reply


async def test_web_form_reply_is_also_announced_by_email(http, channel_fakes):
    address = f"notice-{uuid.uuid4().hex[:8]}@example.com"
    submitted = await http.post(
        "/support/submit",
        json={"name": "Noor Notice", "email": address, "subject": "Two-factor setup",
              "category": "technical", "message": "How do I turn on two-factor authentication?"},
    )
    ticket_id = submitted.json()["ticket_id"]
    view = await wait_for_reply(http, ticket_id)
    reply = view["messages"][-1]["content"]

    notices = await until(lambda: gmail_sent_to(channel_fakes, address), "the email notice")
    assert len(notices) == 1
    mime = notices[0].mime
    assert mime["Subject"] == "We replied: Two-factor setup"
    text = mime.get_body(("plain",)).get_content()
    assert f"/webform/#/ticket/{ticket_id}" in text
    assert reply.splitlines()[-1].strip() in text or reply[:60] in text
