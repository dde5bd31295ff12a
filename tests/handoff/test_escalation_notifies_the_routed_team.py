"""An escalation on fte.escalations reaches its team: one JSON body on the team's webhook and
one email for the dispatcher's Gmail sender, with the context read over gRPC with the
notifier's own service key; a redelivered escalation notifies nobody twice."""

from __future__ import annotations

import asyncpg
from fte.common.v1 import channel_pb2
from prometheus_client import REGISTRY

from tests.handoff.notifier_run import PUBLIC_BASE


def _count(name: str, team: str, transport: str) -> float:
    return REGISTRY.get_sample_value(name, {"team": team, "transport": transport}) or 0.0


def _about(bodies: list[dict], ticket_id: str) -> list[dict]:
    return [b for b in bodies if b["ticket_id"] == ticket_id]


async def test_pricing_escalation_reaches_sales_by_webhook_and_email(notifier, stack) -> None:
    sent_before = _count("fte_notifier_sent_total", "sales", "webhook")
    escalated = await notifier.escalate()
    await notifier.publish(escalated.event)

    bodies = await notifier.until(lambda: _about(notifier.webhook.bodies("/hooks/sales"), escalated.event.ticket_id),
                                  "the sales webhook")
    assert len(bodies) == 1
    body = bodies[0]
    link = f"{PUBLIC_BASE}/inbox/#/escalations/{escalated.stored_escalation_id}"
    assert body["team"] == "sales" and body["reason"] == "pricing" and body["channel"] == "whatsapp"
    assert body["link"] == link
    assert body["note"] == "Asked for a quote; prices are for sales."
    assert body["customer"]["name"] == "Ana Silva"
    assert body["customer"]["phones"] == [escalated.phone]
    assert body["messages"][-1]["text"] == "How much is the Business plan for 40 seats?"
    assert body["missing"] == [], "every context call is allowed to the notifier's service key"
    assert link in body["text"] and "Ana Silva" in body["text"]
    accepted = notifier.webhook.accepted[-1]
    assert accepted.headers["idempotency-key"] == f"escalation-{escalated.event.escalation_id}-sales-webhook"

    emails = await notifier.until(notifier.emails, "the email for the dispatcher")
    assert len(emails) == 1
    email = emails[0]
    assert email.channel == channel_pb2.CHANNEL_EMAIL
    assert email.recipient.email == "sales@flowboard.example"
    assert not email.ticket_id
    assert link in email.parts[0] and "pricing" in email.subject

    conn = await asyncpg.connect(stack.admin_dsn)
    try:
        rows = await conn.fetch("SELECT team, transport FROM notifier.notifications_sent WHERE escalation_id = $1",
                                escalated.event.escalation_id)
    finally:
        await conn.close()
    assert sorted((r["team"], r["transport"]) for r in rows) == [("sales", "email"), ("sales", "webhook")]
    assert _count("fte_notifier_sent_total", "sales", "webhook") == sent_before + 1


async def test_a_redelivered_escalation_notifies_once(notifier) -> None:
    escalated = await notifier.escalate()
    await notifier.publish(escalated.event)
    await notifier.publish(escalated.event)  # the worker published it twice (a redelivery upstream)
    marker = await notifier.escalate()
    await notifier.publish(marker.event)  # one partition: once it is notified, the others were handled
    await notifier.until(lambda: _about(notifier.webhook.bodies(), marker.event.ticket_id), "the marker")

    # The whole topic read again, by a notifier that lost its offsets (a new group).
    await notifier.finish()
    notifier.start(group=notifier.settings.consumer_group + "-again")
    later = await notifier.escalate()
    await notifier.publish(later.event)
    await notifier.until(lambda: _about(notifier.webhook.bodies(), later.event.ticket_id), "the later escalation")

    assert len(_about(notifier.webhook.bodies(), escalated.event.ticket_id)) == 1
    assert len(_about(notifier.webhook.bodies(), marker.event.ticket_id)) == 1
    emails = await notifier.emails()
    assert [e.reply_id for e in emails].count(f"escalation-{escalated.event.escalation_id}-sales-email") == 1
    assert len(emails) == 3
