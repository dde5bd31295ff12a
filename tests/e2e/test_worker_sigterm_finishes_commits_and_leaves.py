"""SIGTERM stops the worker gracefully: it takes no new record, finishes the ones in hand,
commits them, leaves the consumer group and exits 0 within its grace period. Nothing it took is
left half-done and nothing is lost: a restarted worker answers the rest, each exactly once.

A record in hand that cannot finish (the agent hangs) does not stretch the stop past the grace
period: it is abandoned uncommitted and answered after the restart."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import asyncpg
from fte.events.v1 import events_pb2

from services.common import topics
from services.inbound.worker import WorkerSettings
from tests.e2e.probes import committed_offsets, eventually, group_members, read_topic, submit_many, ticket_rows

N = 60
# The pipeline runs the worker with the default grace period (Settings.grace_period_s).
GRACE_S = 10.0


async def _offsets_of(bootstrap: str, ticket_ids: list[str]) -> dict[str, tuple[int, int]]:
    """ticket id → (partition, offset) of its record on fte.tickets.incoming."""
    wanted = set(ticket_ids)
    found = {}
    for r in await read_topic(bootstrap, topics.INCOMING):
        try:
            ticket_id = events_pb2.InboundMessage.FromString(r.value).ticket_id
        except Exception:  # noqa: BLE001 - other tests' poison records share the topic
            continue
        if ticket_id in wanted:
            found[ticket_id] = (r.partition, r.offset)
    return found


async def _answered_since(admin_dsn: str, ticket_ids: list[str], since: datetime) -> int:
    """How many of these tickets got a reply stored at or after `since` (the services stamp
    messages with this machine's clock)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        return await conn.fetchval(
            "SELECT count(DISTINCT ticket_id) FROM conversation.messages"
            " WHERE ticket_id = ANY($1::uuid[]) AND direction = 'outbound' AND create_time >= $2",
            ticket_ids, since,
        )
    finally:
        await conn.close()


async def test_sigterm_finishes_in_hand_commits_leaves_the_group_and_exits_0(http, pipeline, stack):
    # A backlog, so the worker fetches big batches: SIGTERM must not drain a batch to its end.
    with pipeline.frozen("worker"):
        ticket_ids = list(await submit_many(http, N, "sigterm"))

    async def some_answered() -> bool:
        rows = await ticket_rows(stack.admin_dsn, ticket_ids)
        return sum(1 for t in rows.values() if t.outbound) >= 5

    await eventually(some_answered, 120, "the worker answers the first submissions")
    signalled_at = datetime.now(UTC)
    started = time.monotonic()
    code = await pipeline.kill("worker", signal.SIGTERM, timeout=GRACE_S + 20)
    took = time.monotonic() - started
    try:
        assert code == 0, pipeline.log_tail("worker")
        assert took < GRACE_S + 5, f"stopping took {took:.1f} s"

        rows = await ticket_rows(stack.admin_dsn, ticket_ids)
        answered = {t for t, r in rows.items() if r.outbound}
        assert 0 < len(answered) < N, f"not stopped mid-stream: {len(answered)} of {N} answered"
        # After the signal only the records in hand (WORKER_MAX_IN_FLIGHT at most) are finished,
        # not the rest of the fetched batch: counted by when each reply was stored, so answers
        # that landed just before the signal are not taken for answers after it.
        in_hand = WorkerSettings.model_fields["worker_max_in_flight"].default  # the pipeline's worker sets none
        after = await _answered_since(stack.admin_dsn, ticket_ids, signalled_at)
        assert after <= in_hand, f"{after} answered after SIGTERM"
        # Every message the worker started on (its ticket is stored) was finished before exit.
        assert set(rows) == answered, f"left half-done: {set(rows) - answered}"

        # Exactly what was answered is committed: no answered record will be taken again, no
        # unanswered one was skipped.
        committed = await committed_offsets(stack.bootstrap_servers, topics.INCOMING)
        where = await _offsets_of(stack.bootstrap_servers, ticket_ids)
        assert set(where) == set(ticket_ids)
        assert {t for t, (p, o) in where.items() if o < committed.get(p, 0)} == answered

        assert await group_members(stack.bootstrap_servers) == {}, "the worker did not leave the group"
    finally:
        await pipeline.start("worker")

    async def all_answered() -> bool:
        rows = await ticket_rows(stack.admin_dsn, ticket_ids)
        return len(rows) == N and all(r.outbound for r in rows.values())

    await eventually(all_answered, 180, "the restarted worker answers the rest")
    rows = await ticket_rows(stack.admin_dsn, ticket_ids)
    assert all(r.inbound == 1 for r in rows.values())
    doubled = {t: len(r.outbound) for t, r in rows.items() if len(r.outbound) != 1}
    assert not doubled, f"tickets without exactly one reply: {doubled}"
    assert all(r.outbound[0].role == "agent" for r in rows.values())


async def test_a_record_that_cannot_finish_is_abandoned_at_the_grace_period(http, pipeline, stack):
    grace_s = 2.0
    await pipeline.kill("worker", signal.SIGTERM)
    await pipeline.start("worker", env={"GRACE_PERIOD_S": str(grace_s)})
    # A frozen agent: Respond neither answers nor fails, it hangs.
    pipeline.signal("agent", signal.SIGSTOP)
    try:
        [ticket_id] = await submit_many(http, 1, "frozen")

        async def in_hand() -> bool:
            return ticket_id in await ticket_rows(stack.admin_dsn, [ticket_id])

        await eventually(in_hand, 60, "the worker takes the record and waits on the agent")
        started = time.monotonic()
        code = await pipeline.kill("worker", signal.SIGTERM, timeout=30)
        took = time.monotonic() - started
        assert code == 0, pipeline.log_tail("worker")
        assert took < grace_s + 5, f"stopping took {took:.1f} s with a {grace_s} s grace period"
        assert not (await ticket_rows(stack.admin_dsn, [ticket_id]))[ticket_id].outbound

        [(partition, offset)] = (await _offsets_of(stack.bootstrap_servers, [ticket_id])).values()
        committed = await committed_offsets(stack.bootstrap_servers, topics.INCOMING)
        assert committed.get(partition, 0) <= offset, "an unfinished record was committed"
    finally:
        pipeline.signal("agent", signal.SIGCONT)
        if "worker" not in pipeline.procs:
            await pipeline.start("worker")

    async def answered() -> bool:
        return bool((await ticket_rows(stack.admin_dsn, [ticket_id]))[ticket_id].outbound)

    await eventually(answered, 120, "the restarted worker answers the abandoned record")
    [reply] = (await ticket_rows(stack.admin_dsn, [ticket_id]))[ticket_id].outbound
    assert reply.role == "agent"
