"""The shared consume loop (services.common.consumer) on the test stack's real Kafka: each
record is handled once, partitions each in order, and its offset is committed after it is
handled (the offsets of many records in one request), with the metadata its consumer attaches. A stop finishes the record in hand and
leaves the rest uncommitted; a record that will not finish is abandoned, uncommitted, at the
end of the grace period."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer

from tests.common.kafka_run import Running, topic


async def test_records_are_handled_once_each_partition_in_order_and_all_committed(stack):
    async with topic(stack.bootstrap_servers, partitions=3) as t:
        for p in range(3):
            await t.put(p, *(f"p{p}-{i}" for i in range(20)))

        async def handle(record) -> None:
            t.note(record)
            await asyncio.sleep(0.001 * (record.offset % 3))  # partitions interleave

        run = Running(t, handle)
        await run.until(lambda: len(t.handled) >= 60, "every record handled")
        await run.until(
            lambda: _all_committed(t, run.group, {0: 20, 1: 20, 2: 20}), "every offset committed"
        )
        await run.finish()

    for p in range(3):
        assert t.values(p) == [f"p{p}-{i}" for i in range(20)]
    assert len(t.handled) == 60


async def test_commits_trail_their_records_many_in_one_request_with_the_consumers_metadata(
        stack, monkeypatch):
    requests: list[dict[int, tuple[int, str]]] = []
    real_commit = AIOKafkaConsumer.commit

    async def recorded_commit(self, offsets=None):
        requests.append({tp.partition: tuple(v) for tp, v in offsets.items()})
        return await real_commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", recorded_commit)
    values = [f"r{i}" for i in range(30)]
    async with topic(stack.bootstrap_servers) as t:
        await t.put(0, *values)
        seen: list[tuple[int, int]] = []
        run: Running

        async def handle(record) -> None:
            # What is committed when this record starts: never this record or a later one.
            offset, _ = (await t.committed(run.group)).get(0, (-1, ""))
            seen.append((record.offset, offset))
            t.note(record)

        run = Running(t, handle, commit_metadata=lambda tp: json.dumps({"last": t.values()[-1]}),
                      commit_interval_s=0.5)
        await run.until(lambda: _all_committed(t, run.group, {0: 30}), "the 30 records committed")
        await run.finish()
        committed = await t.committed(run.group)

    assert t.values() == values
    assert all(committed_then <= offset for offset, committed_then in seen), seen
    # Each request commits a record's successor with the metadata its consumer gave after it.
    for request in requests:
        offset, metadata = request[0]
        assert json.loads(metadata) == {"last": values[offset - 1]}
    assert 1 <= len(requests) <= 6, f"{len(requests)} commit requests for 30 quick records"
    assert committed == {0: (30, '{"last": "r29"}')}


async def test_a_stop_finishes_the_record_in_hand_and_leaves_the_rest_uncommitted(stack):
    async with topic(stack.bootstrap_servers) as t:
        await t.put(0, *(f"r{i}" for i in range(10)))
        in_hand = asyncio.Event()
        release = asyncio.Event()

        async def handle(record) -> None:
            if record.offset == 3:
                in_hand.set()
                await release.wait()
            t.note(record)

        run = Running(t, handle)
        await run.until(in_hand.is_set, "the fourth record in hand")
        run.stop.set()
        await asyncio.sleep(0.5)
        assert not run.task.done(), "the loop must wait for the record in hand"
        release.set()
        await run.finish()
        committed = await t.committed(run.group)

    assert t.values() == ["r0", "r1", "r2", "r3"]
    assert committed == {0: (4, "")}


async def test_a_record_that_will_not_finish_is_abandoned_uncommitted_after_the_grace_period(stack):
    async with topic(stack.bootstrap_servers) as t:
        await t.put(0, "quick", "hangs", "never")
        in_hand = asyncio.Event()

        async def handle(record) -> None:
            if t.note(record) == "hangs":
                in_hand.set()
                await asyncio.Event().wait()

        run = Running(t, handle, grace_s=1.0)
        await run.until(in_hand.is_set, "the hanging record in hand")
        took = await run.finish()
        committed = await t.committed(run.group)

    assert 1.0 <= took < 4.0
    assert t.values() == ["quick", "hangs"]
    assert committed == {0: (1, "")}


async def _all_committed(t, group: str, ends: dict[int, int]) -> bool:
    committed = await t.committed(group)
    return all(committed.get(p, (0, ""))[0] == end for p, end in ends.items())


async def test_a_slow_record_holds_up_its_own_partition_only(stack):
    # Partition 0's first record waits until released; records put on partition 1 meanwhile, in two
    # rounds (so they come in later fetches), are handled and committed before it finishes.
    async with topic(stack.bootstrap_servers, partitions=2) as t:
        release = asyncio.Event()

        async def handle(record) -> None:
            if t.note(record) == "slow":
                await release.wait()

        await t.put(0, "slow", "after-slow")
        run = Running(t, handle)
        await run.until(lambda: "slow" in t.values(), "the slow record started")
        await t.put(1, "q1")
        await run.until(lambda: "q1" in t.values(), "partition 1's first record handled")
        await t.put(1, "q2")
        await run.until(lambda: _all_committed(t, run.group, {1: 2}), "partition 1 committed")
        assert t.values(0) == ["slow"]  # still in hand
        release.set()
        await run.until(lambda: _all_committed(t, run.group, {0: 2, 1: 2}), "everything committed")
        await run.finish()

    assert t.values(0) == ["slow", "after-slow"]
    assert t.values(1) == ["q1", "q2"]
