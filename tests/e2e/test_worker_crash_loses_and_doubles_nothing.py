"""200 submissions; the worker is SIGKILLed mid-stream — with messages in hand — and restarted.
Afterwards every submission has exactly one ticket, one stored customer message and exactly one
reply, the agent's answer (not an apology), which the dispatcher delivered once: none lost,
none doubled."""

from __future__ import annotations

import asyncio
import signal

from tests.e2e.channel_loop import gmail_sent_to
from tests.e2e.probes import TicketRows, eventually, submit_many, ticket_rows

N = 200
BEFORE_KILL = 80


async def _freeze_with_work_in_hand(pipeline, admin_dsn: str, ticket_ids: list[str]) -> dict[str, TicketRows]:
    """Stops the worker (SIGSTOP) at a moment when it is between storing a message and storing
    its reply, so the state seen is exactly the state it is killed in."""
    for _ in range(50):
        pipeline.signal("worker", signal.SIGSTOP)
        rows = await ticket_rows(admin_dsn, ticket_ids)
        if any(not r.outbound for r in rows.values()):
            return rows
        pipeline.signal("worker", signal.SIGCONT)
        await asyncio.sleep(0.05)
    raise AssertionError("never caught the worker with a message in hand")


async def test_sigkill_mid_stream_then_restart_gives_exactly_one_reply_each(http, pipeline, stack, channel_fakes):
    senders = await submit_many(http, BEFORE_KILL, "crash")
    ticket_ids = list(senders)

    async def some_answered() -> bool:
        rows = await ticket_rows(stack.admin_dsn, ticket_ids)
        return sum(1 for r in rows.values() if r.outbound) >= 10

    await eventually(some_answered, 120, "the worker answers the first submissions", every=0.2)
    at_kill = await _freeze_with_work_in_hand(pipeline, stack.admin_dsn, ticket_ids)
    assert await pipeline.kill("worker") == -signal.SIGKILL
    await pipeline.start("worker")

    answered_at_kill = {t for t, r in at_kill.items() if r.outbound}
    in_hand_at_kill = {t for t, r in at_kill.items() if not r.outbound}
    assert 0 < len(answered_at_kill) < BEFORE_KILL, f"{len(answered_at_kill)} answered at the kill"
    assert in_hand_at_kill

    senders |= await submit_many(http, N - BEFORE_KILL, "crash")
    ticket_ids = list(senders)
    assert len(ticket_ids) == N

    async def all_delivered() -> bool:
        rows = await ticket_rows(stack.admin_dsn, ticket_ids)
        return len(rows) == N and all(
            any(o.delivery_status == "delivered" for o in r.outbound) for r in rows.values()
        )

    await eventually(all_delivered, 220, "every submission's reply is delivered", every=2)
    rows = await ticket_rows(stack.admin_dsn, ticket_ids)
    assert len(rows) == N, "every accepted submission has its ticket"
    assert all(r.inbound == 1 for r in rows.values()), "a customer message was stored twice"
    not_one = {t: [(o.role, o.delivery_status) for o in r.outbound] for t, r in rows.items() if len(r.outbound) != 1}
    assert not not_one, f"tickets without exactly one reply: {not_one}"
    not_answers = {t: r.outbound[0].role for t, r in rows.items() if r.outbound[0].role != "agent"}
    assert not not_answers, f"replies that are not the agent's answer: {not_answers}"
    assert all(r.outbound[0].delivery_status == "delivered" for r in rows.values())

    # What the dispatcher sent: with email configured each web reply is announced by one email
    # notice, so a reply dispatched twice would show as two.
    def notices() -> dict[str, int]:
        return {t: len(gmail_sent_to(channel_fakes, email)) for t, email in senders.items()}

    async def all_noticed() -> bool:
        return all(n >= 1 for n in notices().values())

    await eventually(all_noticed, 60, "every customer is told about the reply by email")
    doubled = {t: n for t, n in notices().items() if n != 1}
    assert not doubled, f"replies the dispatcher sent more than once: {doubled}"
