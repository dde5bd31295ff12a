"""One customer's messages are handled in the order they were sent: they share a partition
(the key is the normalised sender) and the worker handles one sender's records one after
another, in offset order (other senders' side by side), so the stored order — the customer's
history — is the submit order, even when the worker meets them all in one batch among other
customers' messages."""

from __future__ import annotations

import uuid

import asyncpg

from tests.e2e.probes import eventually, submit_many

QUESTIONS = [
    "How do I create a new board for my team?",
    "How do I invite a colleague to that board?",
    "Can I set due dates on cards?",
    "How do I get reminders before a due date?",
    "Can I export the board to CSV afterwards?",
]


async def _stored_in_order(admin_dsn: str, customer_id: str) -> list[str]:
    """The customer's inbound messages in the order they were stored (seq), not by timestamp."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            """SELECT content FROM conversation.messages
               WHERE customer_id = $1 AND direction = 'inbound' ORDER BY seq""",
            uuid.UUID(customer_id),
        )
    finally:
        await conn.close()
    return [r["content"] for r in rows]


async def test_one_senders_messages_are_stored_in_the_order_sent(http, pipeline, stack, operator_headers):
    email = f"ordered-{uuid.uuid4().hex[:8]}@example.com"
    # Queue everything first, so the worker meets the whole sequence in one batch.
    with pipeline.frozen("worker"):
        for i, question in enumerate(QUESTIONS):
            reply = await http.post(
                "/support/submit",
                json={"name": "Orla Order", "email": email.upper() if i % 2 else email,
                      "subject": f"Question {i + 1} about boards", "category": "general",
                      "message": question},
            )
            assert reply.status_code == 202, reply.text
            await submit_many(http, 3, "others")  # other customers in between

    async def customer_id() -> str:
        found = await http.get("/customers/lookup", params={"email": email}, headers=operator_headers)
        return found.json()["customer_id"] if found.status_code == 200 else ""

    await eventually(customer_id, 120, "the customer is known")
    customer = await customer_id()

    async def all_stored() -> bool:
        return len(await _stored_in_order(stack.admin_dsn, customer)) == len(QUESTIONS)

    await eventually(all_stored, 120, "every message of the customer is stored")
    assert await _stored_in_order(stack.admin_dsn, customer) == QUESTIONS

    # The history the customer's conversation shows is the same order.
    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        [conversation_id] = await conn.fetchval(
            """SELECT array_agg(DISTINCT conversation_id::text) FROM conversation.messages
               WHERE customer_id = $1""",
            uuid.UUID(customer),
        )
    finally:
        await conn.close()
    history = (await http.get(f"/conversations/{conversation_id}", headers=operator_headers)).json()["messages"]
    inbound = [m["content"] for m in history if m["direction"] == "MESSAGE_DIRECTION_INBOUND"]
    assert inbound == QUESTIONS
