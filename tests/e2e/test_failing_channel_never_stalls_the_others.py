"""Channel isolation on the running pipeline: while Gmail answers 503 to every send, the
email channel's circuit opens (GET /health: email degraded), WhatsApp and web-form customers
still get their answers, and the email reply waits in Kafka; once Gmail is back it is sent
exactly once and the email channel is healthy again."""

from __future__ import annotations

import uuid

from tests.e2e.channel_loop import (
    customer_email,
    email_answer,
    email_customer,
    gmail_sent_to,
    new_email_address,
    new_phone,
    post_whatsapp,
    until,
    whatsapp_answer,
)
from tests.e2e.conftest import wait_for_reply
from tests.fakes.gmail import BACKEND_ERROR

SEND = r"/gmail/v1/users/[^/]+/messages/send$"


async def test_gmail_outage_degrades_email_only_and_its_reply_is_sent_after_recovery(channel_fakes, http):
    gmail = channel_fakes.gmail

    async def channel_state(name: str) -> str:
        return (await http.get("/health")).json()["channels"][name]

    assert await channel_state("email") == "ok"
    gmail.fail("POST", SEND, BACKEND_ERROR, times=1_000_000)
    try:
        address = new_email_address("outage")
        await email_customer(
            channel_fakes,
            http,
            customer_email(address, "Export question", "How do I export my workspace data to CSV?"),
        )
        # The reply is tried, retried, and the breaker opens: the edge reports it.
        await until(lambda: _is(channel_state("email"), "degraded"), "email to be degraded")
        assert len(gmail.received("POST", SEND)) >= 3

        # Meanwhile the other channels flow.
        phone = new_phone()
        assert (await post_whatsapp(channel_fakes, phone, "Which browsers does Flowboard support?")).status_code == 200
        submitted = await http.post(
            "/support/submit",
            json={
                "name": "Web Customer",
                "email": f"web-{uuid.uuid4().hex[:8]}@example.com",
                "subject": "Password question",
                "category": "technical",
                "message": "How do I reset my password? I forgot it.",
            },
        )
        assert submitted.status_code == 202
        assert await whatsapp_answer(channel_fakes, phone, timeout=90)
        view = await wait_for_reply(http, submitted.json()["ticket_id"])
        assert view["status"] == "answered"

        health = (await http.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["channels"] == {"web_form": "ok", "email": "degraded", "whatsapp": "ok"}
        assert gmail_sent_to(channel_fakes, address) == [], "nothing got through while Gmail failed"
    finally:
        gmail.recover()

    # Never dropped: the waiting reply goes out once Gmail answers again, exactly once.
    reply = await email_answer(channel_fakes, address, timeout=150)
    assert reply.mime["Subject"] == "Re: Export question"
    await until(lambda: _is(channel_state("email"), "ok"), "email to be ok again", timeout=60)
    assert (await http.get("/health")).json()["status"] == "ok"
    assert len(gmail_sent_to(channel_fakes, address)) == 1


async def _is(state, expected: str) -> bool:
    return await state == expected
