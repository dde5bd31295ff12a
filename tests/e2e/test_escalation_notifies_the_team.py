"""A pricing question on WhatsApp is escalated, and the sales team hears of it by email (the
notifier's message sent by the real dispatcher through the fake Gmail) and on its chat
webhook — while the customer's answer never waits for the notifier: it arrives with the
notifier frozen."""

from __future__ import annotations

import httpx

from tests.e2e.channel_loop import gmail_sent_to, new_phone, post_whatsapp, until, whatsapp_answer

SALES = "sales@flowboard.example"


async def test_pricing_question_on_whatsapp_notifies_sales_by_email_and_webhook(pipeline, channel_fakes) -> None:
    phone = new_phone()
    with pipeline.frozen("notifier"):
        accepted = await post_whatsapp(
            channel_fakes, phone, "How much does the Business plan cost for 40 seats?", profile="Marta")
        assert accepted.status_code == 200
        answer = await whatsapp_answer(channel_fakes, phone)
    assert answer, "the customer is answered while the notifier cannot run"

    def hooked() -> list[dict]:
        return [b for b in channel_fakes.webhook.bodies("/hooks/sales") if phone in b["customer"]["phones"]]

    bodies = await until(hooked, "the sales webhook")
    body = bodies[0]
    assert (body["team"], body["reason"], body["channel"]) == ("sales", "pricing", "whatsapp")
    assert body["customer"]["name"] == "Marta"
    assert body["link"] == f"{channel_fakes.public_base_url}/inbox/#/escalations/{body['escalation_id']}"
    assert any("Business plan" in m["text"] for m in body["messages"])
    assert body["missing"] == []

    def mailed():
        return [s for s in gmail_sent_to(channel_fakes, SALES)
                if phone in s.mime.get_body(("plain",)).get_content()]

    mail = (await until(mailed, "the email to sales"))[0]
    text = mail.mime.get_body(("plain",)).get_content()
    assert "pricing" in str(mail.mime["Subject"]) and "Marta" in str(mail.mime["Subject"])
    assert body["link"] in text and "Business plan" in text
    assert len(hooked()) == 1 and len(mailed()) == 1

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"http://{pipeline.address('notifier')}/metrics")).text
    assert 'fte_notifier_sent_total{team="sales",transport="webhook"}' in metrics
    assert 'fte_notifier_sent_total{team="sales",transport="email"}' in metrics
