"""`fte_kafka_consumer_lag{group, topic, partition}` from the shared consume loop on the test
stack's real Kafka: while a group works through a backlog the gauge says how many records of the
partition are still ahead of its commit, and once it has caught up it reads 0."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from tests.common.kafka_run import Running, topic


def _lag(group: str, name: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "fte_kafka_consumer_lag", {"group": group, "topic": name, "partition": str(partition)})


async def test_lag_counts_the_records_still_ahead_and_drains_to_zero(stack):
    async with topic(stack.bootstrap_servers, partitions=2) as t:
        await t.put(0, *(f"r{i}" for i in range(6)))
        await t.put(1, "only")
        seen: dict[int, float | None] = {}
        run: Running

        async def handle(record) -> None:
            t.note(record)
            if record.partition == 0:
                # Long enough for the previous record's commit (0.05 s after it) to land: what
                # the gauge says at the end of this record is the records after that commit.
                await asyncio.sleep(0.5)
                seen[record.offset] = _lag(run.group, t.name, 0)

        run = Running(t, handle, commit_interval_s=0.05)
        await run.until(lambda: len(t.handled) == 7, "every record handled")
        await run.until(lambda: _lag(run.group, t.name, 0) == 0 and _lag(run.group, t.name, 1) == 0,
                        "both partitions drained to a lag of 0")
        await t.put(0, "later")
        await run.until(lambda: len(t.handled) == 8, "the later record handled")
        await run.until(lambda: _lag(run.group, t.name, 0) == 0, "lag back to 0 after it")
        await run.finish()

    # By the end of offset 1, offset 0 was committed: five records left; and so on down.
    assert [seen[o] for o in range(1, 6)] == [5, 4, 3, 2, 1]
