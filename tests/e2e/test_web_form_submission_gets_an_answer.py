"""Edge → Kafka → worker → identity → conversation → agent → outbound topic → dispatcher →
stored reply, over real processes: the customer sees the agent's answer on the ticket page."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import wait_for_reply


def _form(message: str, subject: str = "Question about Flowboard", **extra) -> dict:
    return {
        "name": "Ada Lovelace",
        "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
        "subject": subject,
        "category": "technical",
        "message": message,
        **extra,
    }


async def test_submitted_question_gets_a_grounded_reply_on_the_ticket_page(http):
    submitted = await http.post(
        "/support/submit", json=_form("How do I reset my password? The link never seems to come.")
    )
    assert submitted.status_code == 202
    ticket_id = submitted.json()["ticket_id"]

    view = await wait_for_reply(http, ticket_id)
    assert view["ticket_id"] == ticket_id
    assert view["status"] == "answered"
    customer, reply = view["messages"][0], view["messages"][-1]
    assert customer["role"] == "customer" and "reset my password" in customer["content"]
    assert reply["role"] == "agent"
    # Grounded in the knowledge base: the password-reset article's facts.
    assert "Forgot password" in reply["content"]


async def test_pricing_question_comes_back_escalated(http):
    submitted = await http.post(
        "/support/submit",
        json=_form("How much does the Business plan cost per user per month?", subject="Pricing question"),
    )
    ticket_id = submitted.json()["ticket_id"]
    view = await wait_for_reply(http, ticket_id)
    assert view["status"] == "escalated"
    reply = view["messages"][-1]["content"]
    assert "$" not in reply and "€" not in reply
