"""The shared consume loop with a `key` hook (the inbound worker's: the sender): records of one
partition with different keys run side by side, those of one key in offset order, at most
`max_in_flight` of the whole consumer at once; a partition's offset is committed up to its first
record not handled yet, so a crash or a stop never skips one. On the test stack's real Kafka."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.common.kafka_run import Running, topic


def by_key(record):
    return record.key


async def _committed(t, group: str) -> dict[int, int]:
    return {p: offset for p, (offset, _) in (await t.committed(group)).items()}


async def test_a_slow_record_holds_up_its_own_key_only_and_the_commit_waits_for_it(stack):
    async with topic(stack.bootstrap_servers) as t:
        release = asyncio.Event()

        async def handle(record) -> None:
            if record.value == b"a1":
                await release.wait()
            t.note(record)

        await t.put(0, "a1", key="a")  # offset 0: held until released
        await t.put(0, "b1", key="b")
        await t.put(0, "a2", key="a")  # after a1, whatever else is free
        await t.put(0, "c1", "c2", key="c")
        run = Running(t, handle, key=by_key, max_in_flight=4)
        await run.until(lambda: {"b1", "c1", "c2"} <= set(t.values()), "the other keys' records handled")
        await asyncio.sleep(1.0)  # commits trail by 0.25 s: any commit would be in by now
        held = await _committed(t, run.group)
        assert "a2" not in t.values(), "a2 ran before a1, which came first on its key"
        release.set()
        await run.until(lambda: len(t.handled) == 5, "every record handled")

        async def all_committed() -> bool:
            return (await _committed(t, run.group)).get(0) == 5

        await run.until(all_committed, "everything committed")
        await run.finish()

    assert held.get(0, 0) == 0, f"committed past a1, which was still in hand: {held}"
    assert t.values().index("a1") < t.values().index("a2")
    assert t.values()[:3] == ["b1", "c1", "c2"]


async def test_no_more_than_max_in_flight_records_run_at_once_taken_in_fetch_order(stack):
    async with topic(stack.bootstrap_servers, partitions=2) as t:
        for p in range(2):
            for i in range(6):
                await t.put(p, f"p{p}-{i}", key=f"sender-{p}-{i}")
        running = 0
        most = 0
        started: list[str] = []

        async def handle(record) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            started.append(record.value.decode())
            await asyncio.sleep(0.2)
            running -= 1
            t.note(record)

        run = Running(t, handle, key=by_key, max_in_flight=3)
        await run.until(lambda: len(t.handled) == 12, "every record handled")
        await run.finish()

    assert most == 3, f"{most} records ran at once with 3 slots"
    for p in range(2):  # each partition's records take the slots in offset order
        assert [v for v in started if v.startswith(f"p{p}-")] == [f"p{p}-{i}" for i in range(6)]


async def test_a_failed_record_is_read_again_and_the_commit_never_passes_it(stack):
    async with topic(stack.bootstrap_servers) as t:
        tries: Counter[str] = Counter()
        release = asyncio.Event()

        async def handle(record) -> None:
            value = record.value.decode()
            tries[value] += 1
            if value == "a1" and tries[value] == 1:
                await release.wait()
                raise RuntimeError("not this time")
            t.note(record)

        await t.put(0, "a1", key="a")
        await t.put(0, "b1", key="b")
        await t.put(0, "a2", key="a")
        await t.put(0, "c1", key="c")
        run = Running(t, handle, key=by_key, max_in_flight=4)  # tried once, no dead-letter hook
        await run.until(lambda: {"b1", "c1"} <= set(t.values()), "the other keys handled")
        release.set()  # a1 fails: a2 must wait for it, and the commit must not pass it

        async def all_committed() -> bool:
            return (await _committed(t, run.group)).get(0) == 4

        await run.until(all_committed, "everything committed")
        await run.finish()

    assert tries["a1"] == 2
    assert t.values().index("a1") < t.values().index("a2")
    assert tries["a2"] == 1, "a2 ran although a1, before it on its key, had failed"


async def test_a_stop_finishes_the_records_in_hand_and_leaves_the_waiting_ones_uncommitted(stack):
    async with topic(stack.bootstrap_servers) as t:
        for i in range(6):
            await t.put(0, f"r{i}", key=f"k{i}")
        in_hand = asyncio.Event()
        release = asyncio.Event()
        started: list[str] = []

        async def handle(record) -> None:
            started.append(record.value.decode())
            if len(started) == 2:
                in_hand.set()
            await release.wait()
            t.note(record)

        run = Running(t, handle, key=by_key, max_in_flight=2)
        await asyncio.wait_for(in_hand.wait(), 60)
        run.stop.set()
        await asyncio.sleep(0.3)
        release.set()
        await run.finish()
        committed = await _committed(t, run.group)

    assert started == ["r0", "r1"], f"started after the stop: {started[2:]}"
    assert t.values() == ["r0", "r1"]
    assert committed == {0: 2}


async def test_a_partition_that_stays_busy_keeps_state_only_for_the_records_in_hand(stack, monkeypatch):
    from services.common import consumer as consumer_module

    loops: list[consumer_module.PartitionedConsumer] = []

    class Seen(consumer_module.PartitionedConsumer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            loops.append(self)

    monkeypatch.setattr(consumer_module, "PartitionedConsumer", Seen)
    async with topic(stack.bootstrap_servers) as t:
        values = [f"r{i}" for i in range(300)]
        for i, value in enumerate(values):
            await t.put(0, value, key=f"k{i}")
        largest = {"started": 0, "unfinished": 0, "last_of": 0, "tasks": 0}
        runs = set()

        async def handle(record) -> None:
            for run in loops[0]._runs.values():
                runs.add(id(run))
                for name in largest:
                    largest[name] = max(largest[name], len(getattr(run, name)))
            await asyncio.sleep(0.005)
            t.note(record)

        run = Running(t, handle, key=by_key, max_in_flight=3, max_records=50)
        await run.until(lambda: len(t.handled) == 300, "every record handled")
        await run.finish()

    assert sorted(t.values(), key=lambda v: int(v[1:])) == values
    assert largest["started"] <= 3, largest
    # In hand: what was fetched and not yet handled, at most a full queue and one more batch.
    assert max(largest["unfinished"], largest["last_of"], largest["tasks"]) <= 100, (largest, len(runs))


async def test_without_a_bound_as_many_records_run_at_once_as_partitions_are_assigned(stack):
    async with topic(stack.bootstrap_servers, partitions=2) as t:
        await t.put(0, *(f"p0-{i}" for i in range(6)), key=None)  # keyless: in order
        for i in range(6):
            await t.put(1, f"p1-{i}", key=f"sender-{i}")
        running = 0
        most = 0

        async def handle(record) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.2)
            running -= 1
            t.note(record)

        run = Running(t, handle, key=by_key)
        await run.until(lambda: len(t.handled) == 12, "every record handled")
        await run.finish()

    assert most == 2, f"{most} records ran at once with 2 partitions assigned"
    assert t.values(0) == [f"p0-{i}" for i in range(6)]
