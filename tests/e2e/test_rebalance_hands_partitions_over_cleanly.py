"""A second worker joining and then leaving the group moves partitions twice while both are
busy. The worker giving a partition up finishes and commits the record in hand before the
rebalance goes on, so no record is handled twice (one published reply per message), none is
lost, and neither rebalance crashes a worker."""

from __future__ import annotations

import signal
from collections import Counter

from fte.common.v1 import channel_pb2
from fte.events.v1 import events_pb2

from services.common import topics
from tests.e2e.probes import eventually, group_members, read_topic, submit_many, ticket_rows

# Enough that the backlog outlasts the second worker's join (a few seconds of rebalance) at
# the pipeline's rate: 90 were drained before the join once replies took ~50 ms of CPU.
N = 300


async def test_partitions_move_between_workers_without_loss_or_repeat(http, pipeline, stack):
    # A backlog, so both rebalances happen while records are in hand.
    with pipeline.frozen("worker"):
        ticket_ids = list(await submit_many(http, N, "rebalance"))

    async def answered() -> int:
        return sum(1 for r in (await ticket_rows(stack.admin_dsn, ticket_ids)).values() if r.outbound)

    async def started_answering() -> bool:
        return await answered() >= 5

    await eventually(started_answering, 120, "the worker answers the first submissions", every=0.2)
    await pipeline.start("worker2", copy_of="worker")
    try:
        async def split_between_two() -> bool:
            members = await group_members(stack.bootstrap_servers)
            return len(members) == 2 and all(members.values())

        await eventually(split_between_two, 60, "the partitions are split between two workers", every=0.2)
        split_at = await answered()
        assert split_at < N, "the backlog was gone before the second worker joined"

        async def progressed() -> bool:
            return await answered() >= split_at + 10

        await eventually(progressed, 120, "the two workers keep answering", every=0.2)
        assert await answered() < N, "the backlog was gone before the second worker left"
    finally:
        assert await pipeline.kill("worker2", signal.SIGTERM) == 0, pipeline.log_tail("worker2")

    async def all_answered() -> bool:
        return await answered() == N

    await eventually(all_answered, 180, "every message is answered")
    assert pipeline.procs["worker"].returncode is None, pipeline.log_tail("worker")

    rows = await ticket_rows(stack.admin_dsn, ticket_ids)
    assert all(r.inbound == 1 and len(r.outbound) == 1 for r in rows.values())
    # Each handling of a record publishes its reply once: a record handled twice (taken again
    # by the partition's new owner because the old one had not committed it) shows up here.
    keys = {f"web:{t}" for t in ticket_ids}
    published = Counter(
        m.in_reply_to_key
        for m in (
            events_pb2.OutboundMessage.FromString(r.value)
            for r in await read_topic(stack.bootstrap_servers, topics.outbound_topic(channel_pb2.CHANNEL_WEB_FORM))
        )
        if m.in_reply_to_key in keys
    )
    assert set(published) == keys
    repeated = {k: n for k, n in published.items() if n != 1}
    assert not repeated, f"handled more than once: {repeated}"
