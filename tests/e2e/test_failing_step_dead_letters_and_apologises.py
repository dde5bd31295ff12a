"""When a step keeps failing (the agent is down), the worker retries with backoff, then parks
the event in fte.dlq with the error, apologises on the customer's channel and escalates the
ticket with reason processing_error. Nothing is dropped; later messages flow again.

When the failing step comes before there is a ticket (identity is down), the event still goes
to fte.dlq and the apology still goes to the sender on their channel's outbound topic."""

from __future__ import annotations

import uuid

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from services.inbound.worker import APOLOGY
from services.common import topics
from tests.e2e.conftest import wait_for_reply
from tests.e2e.probes import eventually, read_topic

# The worker's attempts at a failing step (`MAX_ATTEMPTS`, whose default the pipeline keeps);
# the dead letter reports how many were made.
MAX_ATTEMPTS = 5


async def _dead_letters(bootstrap: str) -> list[events_pb2.DeadLetter]:
    return [events_pb2.DeadLetter.FromString(r.value) for r in await read_topic(bootstrap, topics.DLQ)]


async def test_agent_outage_dead_letters_apologises_and_escalates(http, pipeline, stack, conversation):
    await pipeline.kill("agent")
    try:
        submitted = await http.post(
            "/support/submit",
            json={"name": "Unlucky Customer", "email": f"unlucky-{uuid.uuid4().hex[:8]}@example.com",
                  "subject": "Export question", "category": "general",
                  "message": "How do I export my workspace data to CSV?"},
        )
        ticket_id = submitted.json()["ticket_id"]
        view = await wait_for_reply(http, ticket_id)
    finally:
        await pipeline.start("agent")

    assert view["status"] == "escalated"
    assert [m["content"] for m in view["messages"] if m["role"] == "system"] == [APOLOGY]
    stored = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket_id))
    assert [e.reason for e in stored.escalations] == [conv_pb.ESCALATION_REASON_PROCESSING_ERROR]
    assert stored.escalations[0].note.startswith("automatic: respond failed")
    letters = [d for d in await _dead_letters(stack.bootstrap_servers) if d.idempotency_key == f"web:{ticket_id}"]
    assert len(letters) == 1
    assert letters[0].stage == "respond" and "UNAVAILABLE" in letters[0].error
    assert letters[0].attempts == MAX_ATTEMPTS
    assert events_pb2.InboundMessage.FromString(letters[0].payload).ticket_id == ticket_id

    # The agent is back: the next message is answered normally.
    again = await http.post(
        "/support/submit",
        json={"name": "Next Customer", "email": f"next-{uuid.uuid4().hex[:8]}@example.com",
              "subject": "Password question", "category": "technical",
              "message": "How do I reset my password? I forgot it."},
    )
    assert (await wait_for_reply(http, again.json()["ticket_id"]))["status"] == "answered"


async def test_no_ticket_possible_still_dead_letters_and_apologises_to_the_sender(http, pipeline, stack):
    email = f"noticket-{uuid.uuid4().hex[:8]}@example.com"
    await pipeline.kill("identity")
    try:
        submitted = await http.post(
            "/support/submit",
            json={"name": "Early Failure", "email": email, "subject": "Billing question",
                  "category": "billing", "message": "Where do I find my last invoice?"},
        )
        assert submitted.status_code == 202
        ticket_id = submitted.json()["ticket_id"]
        key = f"web:{ticket_id}"

        async def apologies() -> list[events_pb2.OutboundMessage]:
            records = await read_topic(stack.bootstrap_servers, topics.outbound_topic(channel_pb2.CHANNEL_WEB_FORM))
            replies = [events_pb2.OutboundMessage.FromString(r.value) for r in records]
            return [m for m in replies if m.in_reply_to_key == key]

        async def apologised() -> bool:
            return bool(await apologies())

        await eventually(apologised, 90, "an apology is published for the failed message")
    finally:
        await pipeline.start("identity")

    [apology] = await apologies()
    assert list(apology.parts) == [APOLOGY]
    assert apology.recipient.email == email and apology.recipient.display_name == "Early Failure"
    assert apology.channel == channel_pb2.CHANNEL_WEB_FORM
    assert apology.escalated and not apology.ticket_id  # no ticket could be stored
    letters = [d for d in await _dead_letters(stack.bootstrap_servers) if d.idempotency_key == key]
    assert len(letters) == 1
    assert letters[0].stage == "resolve_customer" and "UNAVAILABLE" in letters[0].error
    assert letters[0].attempts == MAX_ATTEMPTS
    assert events_pb2.InboundMessage.FromString(letters[0].payload).sender.email == email
