"""What the notifier cannot deliver goes to its own DLQ after bounded retries, and the
escalations after it still flow; a record that is no escalation goes there at once."""

from __future__ import annotations

from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from prometheus_client import REGISTRY

from tests.fakes.http import Reply


def _count(name: str, team: str, transport: str) -> float:
    return REGISTRY.get_sample_value(name, {"team": team, "transport": transport}) or 0.0


async def test_a_webhook_that_keeps_failing_is_retried_then_dead_lettered_and_others_flow(notifier) -> None:
    failed_before = _count("fte_notifier_failed_total", "support", "webhook")
    dead_before = _count("fte_notifier_dead_lettered_total", "support", "webhook")
    notifier.webhook.fail("POST", "^/hooks/support$", Reply(503, b"down"), times=1000)
    angry = await notifier.escalate(conv_pb.ESCALATION_REASON_ANGER, "This is useless, I am furious", "Angry.")
    await notifier.publish(angry.event)
    after = await notifier.escalate()  # sales: its webhook works
    await notifier.publish(after.event)

    letters = await notifier.until(notifier.dead_letters, "the dead letter")
    await notifier.until(lambda: [b for b in notifier.webhook.bodies("/hooks/sales")
                                  if b["ticket_id"] == after.event.ticket_id], "the next escalation")
    assert len(letters) == 1
    letter = letters[0]
    assert letter.stage == "notify"
    assert letter.idempotency_key == angry.event.escalation_id
    assert letter.original_topic == notifier.settings.escalations_topic
    assert "HTTP 503" in letter.error and "127.0.0.1" not in letter.error
    assert len(notifier.webhook.received("POST", "^/hooks/support$")) == notifier.settings.max_attempts
    assert _count("fte_notifier_failed_total", "support", "webhook") == failed_before + 3
    assert _count("fte_notifier_dead_lettered_total", "support", "webhook") == dead_before + 1


async def test_a_record_that_is_no_escalation_is_dead_lettered_without_a_crash(notifier) -> None:
    parked = {"topic": notifier.settings.dlq_topic, "source": notifier.settings.escalations_topic}
    parked_before = REGISTRY.get_sample_value("fte_dead_letters_total", parked) or 0.0
    await notifier.publish(b"\xff\xfe this is not an Escalation")
    escalated = await notifier.escalate()
    await notifier.publish(escalated.event)

    await notifier.until(lambda: [b for b in notifier.webhook.bodies()
                                  if b["ticket_id"] == escalated.event.ticket_id], "the good escalation")
    letters = await notifier.until(notifier.dead_letters, "the dead letter")
    assert [(d.stage, d.attempts, d.key) for d in letters] == [("decode", 1, b"poison")]
    # Counted where every process counts its dead letters (services/common/dead_letters.py).
    assert REGISTRY.get_sample_value("fte_dead_letters_total", parked) == parked_before + 1
    assert not notifier.task.done()


async def test_a_half_sent_escalation_sends_only_what_is_missing_when_replayed(notifier) -> None:
    """Email went out, the webhook kept failing: the dead letter's replay sends only the webhook."""
    notifier.webhook.fail("POST", "^/hooks/sales$", Reply(500), times=notifier.settings.max_attempts)
    escalated = await notifier.escalate()
    await notifier.publish(escalated.event)
    letters = await notifier.until(notifier.dead_letters, "the dead letter")

    await notifier.publish(escalated.event)  # people replay it from the DLQ once the hook is fixed
    await notifier.until(lambda: notifier.webhook.bodies("/hooks/sales"), "the webhook on replay")
    assert len(letters) == 1
    assert len(await notifier.emails()) == 1
