"""The agent reads the customer's history over gRPC: it acknowledges earlier contact on
another channel, and a customer sending more than 10 messages in a minute gets one
"I'm working on your messages" reply instead of ten answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask


async def test_earlier_email_is_acknowledged_on_whatsapp(conversation, agent):
    customer = str(uuid.uuid4())
    emailed = datetime(2024, 11, 12, 9, 30, tzinfo=UTC)
    await ask(conversation, agent, "Our API calls fail with 401 since this morning.", EMAIL,
              customer_id=customer, subject="401 errors", at=emailed)

    ex = await ask(conversation, agent, "How do I create a new API token?", WHATSAPP,
                   customer_id=customer)

    assert 'I see you emailed us on 12 Nov 2024 about "401 errors"' in ex.text
    assert "Settings → Developer → Tokens" in ex.text


async def test_earlier_contact_on_the_same_channel_is_not_announced(conversation, agent):
    customer = str(uuid.uuid4())
    await ask(conversation, agent, "Which browsers are supported?", WEB_FORM, customer_id=customer)
    ex = await ask(conversation, agent, "Is there a Linux app?", WEB_FORM, customer_id=customer)

    assert "I see you" not in ex.text
    assert "no Linux desktop app" in ex.text


async def test_more_than_ten_messages_a_minute_get_one_working_on_it_reply(conversation, agent):
    customer = str(uuid.uuid4())
    start = datetime.now(UTC) - timedelta(seconds=40)
    replies = []
    for i in range(13):
        ex = await ask(conversation, agent, "Which browsers are supported?", WHATSAPP,
                       customer_id=customer, at=start + timedelta(seconds=2 * i))
        replies.append(ex.response)

    answered = [r for r in replies if r.reply.parts and "Chrome" in r.reply.parts[0]]
    notices = [r for r in replies if r.reply.parts and "I'm working on your messages" in r.reply.parts[0]]
    silent = [r for r in replies if not r.reply.parts]
    assert len(answered) == 10 and len(notices) == 1 and len(silent) == 2
    assert replies[10] is notices[0]
    assert all("rate_limit" in r.guardrails_tripped for r in replies[10:])
    assert all(not r.escalated for r in replies)


async def test_the_window_is_a_minute_not_forever(conversation, agent):
    customer = str(uuid.uuid4())
    start = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(11):  # a burst long ago...
        await ask(conversation, agent, "hi", WEB_FORM, customer_id=customer,
                  at=start + timedelta(seconds=i))
    ex = await ask(conversation, agent, "Which browsers are supported?", WEB_FORM,
                   customer_id=customer)  # ...does not silence the customer now

    assert "Chrome" in ex.text and "rate_limit" not in ex.response.guardrails_tripped
