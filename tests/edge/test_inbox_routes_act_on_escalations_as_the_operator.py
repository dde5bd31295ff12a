"""The inbox's routes end to end on the real edge, conversation process (HandoffService) and
access service: the queue per team with the reply due time, one escalation with the customer's
history on every channel and the agent's note, and claim → reply → resolve → reopen by an agent
key — each acted on as that person (the owner is the key's subject, the audit log names it),
with another person's claim answered 409 and an unknown escalation 404."""

from __future__ import annotations

import uuid

from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.access_services import create_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def subject_of(key: str) -> str:
    return f"api-key:{key.split('_')[1]}"


async def escalated_customer(conversation, reason=conv_pb.ESCALATION_REASON_PRICING, note="Wants 15% off 50 seats."):
    """A customer who wrote on WhatsApp, then on the web form, whose web-form ticket the agent
    escalated with a note."""
    customer_id = str(uuid.uuid4())
    await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer_id, channel=channel_pb2.CHANNEL_WHATSAPP, idempotency_key=f"SM{uuid.uuid4().hex}",
        content="Hi, do you have team plans?", sender_name="Grace Hopper"))
    web = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer_id, channel=channel_pb2.CHANNEL_WEB_FORM, idempotency_key=f"web:{uuid.uuid4()}",
        content="How much for 50 seats on Business?", subject="Business plan for 50", sender_name="Grace Hopper"))
    escalated = await conversation.Escalate(conv_pb.EscalateRequest(ticket_id=web.ticket_id, reason=reason, note=note))
    return web, escalated.escalation.escalation_id


async def test_the_queue_lists_an_escalation_for_its_team_with_the_reply_due_time(http, conversation, viewer_key):
    web, escalation_id = await escalated_customer(conversation)

    reply = await http.get("/inbox/api/escalations?reason=pricing&page_size=200", headers=bearer(viewer_key))

    assert reply.status_code == 200, reply.text
    [item] = [e for e in reply.json()["escalations"] if e["escalation_id"] == escalation_id]
    assert (item["ticket_id"], item["customer_name"], item["channel"], item["reason"], item["state"]) == (
        web.ticket_id, "Grace Hopper", "web_form", "pricing", "open")
    assert item["note"] == "Wants 15% off 50 seats."
    assert item["team"] and item["reply_due_at"] and item["owner"] is None
    same_team = await http.get(f"/inbox/api/escalations?team={item['team']}&page_size=200", headers=bearer(viewer_key))
    assert escalation_id in {e["escalation_id"] for e in same_team.json()["escalations"]}
    unknown_team = await http.get("/inbox/api/escalations?team=no-such-team", headers=bearer(viewer_key))
    assert unknown_team.status_code == 400
    assert unknown_team.json()["detail"].startswith("team:")


async def test_one_escalation_shows_the_history_on_every_channel_and_the_note(http, conversation, viewer_key):
    _, escalation_id = await escalated_customer(conversation)

    reply = await http.get(f"/inbox/api/escalations/{escalation_id}", headers=bearer(viewer_key))

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["escalation"]["note"] == "Wants 15% off 50 seats."
    customer_lines = [(m["channel"], m["content"]) for m in body["messages"] if m["role"] == "customer"]
    assert customer_lines == [("whatsapp", "Hi, do you have team plans?"),
                              ("web_form", "How much for 50 seats on Business?")]


async def test_an_agent_claims_replies_resolves_and_reopens_as_themselves(http, conversation, role_keys, access, access_dsn):
    web, escalation_id = await escalated_customer(conversation)
    agent = bearer(role_keys["agent"])
    at = f"/inbox/api/escalations/{escalation_id}"

    claimed = await http.post(f"{at}/claim", headers=agent)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["escalation"]["state"] == "claimed"
    assert claimed.json()["escalation"]["owner"]["subject"] == subject_of(role_keys["agent"])
    assert (await http.post(f"{at}/claim", headers=agent)).json()["already_claimed"] is True

    other = await create_key(access_dsn, "agent", "tests (another agent)")
    taken = await http.post(f"{at}/claim", headers=bearer(other))
    assert taken.status_code == 409, taken.text

    key = f"inbox:{uuid.uuid4()}"
    sent = await http.post(f"{at}/reply", headers=agent, json={"content": "Hello Grace, 15% it is.", "idempotency_key": key})
    assert sent.status_code == 200, sent.text
    assert sent.json()["duplicate"] is False and sent.json()["escalation"]["first_reply_at"]
    again = await http.post(f"{at}/reply", headers=agent, json={"content": "Hello Grace, 15% it is.", "idempotency_key": key})
    assert again.json() | {"escalation": None} == sent.json() | {"duplicate": True, "escalation": None}
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=web.ticket_id))
    # Sent once, formatted for the channel and signed with the person's name (their key's).
    [human] = [m.content for m in ticket.messages if m.role == conv_pb.MESSAGE_ROLE_HUMAN]
    assert "Hello Grace, 15% it is." in human and "tests (agent)" in human

    resolved = await http.post(f"{at}/resolve", headers=agent, json={"note": "Discount offered."})
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["escalation"]["state"], resolved.json()["escalation"]["resolution_note"]) == ("resolved", "Discount offered.")
    assert (await http.post(f"{at}/resolve", headers=agent)).json()["already_resolved"] is True
    reopened = await http.post(f"{at}/reopen", headers=agent, json={"note": "Customer wrote back."})
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["escalation"]["state"], reopened.json()["escalation"]["owner"]) == ("open", None)
    assert (await http.post(f"{at}/reopen", headers=agent)).status_code == 409

    # The conversation process audited the person, not the edge.
    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(
        subject=subject_of(role_keys["agent"]), method="/fte.handoff.v1.HandoffService/ClaimEscalation"))).events
    assert any(escalation_id in e.target_ids and e.outcome == access_pb.AUDIT_OUTCOME_SUCCEEDED for e in events), events


async def test_an_unknown_escalation_is_404(http, role_keys):
    missing = f"/inbox/api/escalations/{uuid.uuid4()}"
    assert (await http.get(missing, headers=bearer(role_keys["viewer"]))).status_code == 404
    assert (await http.post(f"{missing}/claim", headers=bearer(role_keys["agent"]))).status_code == 404
