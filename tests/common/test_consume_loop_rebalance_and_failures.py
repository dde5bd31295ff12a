"""The shared consume loop (services.common.consumer) on the test stack's real Kafka, when
things go wrong: a partition moving to a second consumer finishes and commits its record in
hand first (nothing handled twice or lost); a record that keeps failing is retried a bounded
number of times, parked in a real DLQ topic and committed, and its partition goes on; one that
cannot even be parked is read again, not skipped; a stop ends a retry's wait at once and leaves
its record uncommitted; a partition assigned back while its record outlasts the revoke's drain
reads on after it."""

from __future__ import annotations

import asyncio
from collections import Counter

from fte.events.v1 import events_pb2

from services.common.dead_letters import DeadLetters, describe_error
from services.common.retry import RetryPolicy
from tests.common.kafka_run import Running, topic


async def test_a_revoked_partition_finishes_its_record_before_the_new_owner_reads_on(stack):
    async with topic(stack.bootstrap_servers, partitions=2) as t:
        for p in range(2):
            await t.put(p, *(f"p{p}-{i}" for i in range(12)))
        in_hand: dict[str, set[tuple[int, int]]] = {"first": set(), "second": set()}
        at_revoke: list[set[tuple[int, int]]] = []
        by: Counter[str] = Counter()

        def handler(name: str):
            async def handle(record) -> None:
                in_hand[name].add((record.partition, record.offset))
                await asyncio.sleep(0.4)  # long enough for the rebalance to find work in hand
                t.note(record)
                by[name] += 1
                in_hand[name].discard((record.partition, record.offset))

            return handle

        def revoked(partitions) -> None:
            # Called after the revoked partitions drained: nothing of theirs may be in hand.
            at_revoke.append({k for k in in_hand["first"] if any(tp.partition == k[0] for tp in partitions)})

        first = Running(t, handler("first"), on_revoke=revoked)
        await first.until(lambda: len(t.handled) >= 2, "the first consumer handling records")
        second = Running(t, handler("second"), group=first.group)
        await first.until(lambda: len(t.handled) >= 24, "every record handled", timeout=120)
        await second.finish()
        await first.finish()
        committed = await t.committed(first.group)

    assert at_revoke and all(not busy for busy in at_revoke)
    assert by["first"] and by["second"], f"the partitions never moved: {by}"
    counts = Counter(t.values())
    assert {v for v, n in counts.items() if n != 1} == set(), f"handled twice: {counts}"
    for p in range(2):
        assert t.values(p) == [f"p{p}-{i}" for i in range(12)]
    assert committed == {0: (12, ""), 1: (12, "")}


async def test_a_record_that_keeps_failing_is_dead_lettered_after_bounded_retries(stack):
    async with topic(stack.bootstrap_servers) as t, topic(stack.bootstrap_servers) as dlq:
        await t.put(0, "fine", "poison", "after")
        tries: Counter[str] = Counter()
        dead_letters = DeadLetters(t.producer, dlq.name)

        async def handle(record) -> None:
            value = record.value.decode()
            tries[value] += 1
            if value == "poison":
                raise ConnectionError("the peer keeps hanging up")
            t.note(record)

        async def dead_letter(record, exc, attempts) -> None:
            await dead_letters.park(record, stage="test", error=describe_error(exc), attempts=attempts)

        run = Running(
            t,
            handle,
            retry=RetryPolicy(attempts=3, initial_s=0.01, max_s=0.05),
            dead_letter=dead_letter,
        )
        await run.until(lambda: t.values() == ["fine", "after"], "the record after the poison handled")
        await run.until(lambda: _committed_at(t, run.group, 3), "all three committed")
        await run.finish()
        [letter] = [events_pb2.DeadLetter.FromString(r.value) for r in await dlq.read_all()]

    assert tries == {"fine": 1, "poison": 3, "after": 1}
    assert (letter.original_topic, letter.offset, letter.payload) == (t.name, 1, b"poison")
    assert letter.attempts == 3
    assert letter.error == "ConnectionError: the peer keeps hanging up"


async def test_a_record_that_could_not_be_handled_nor_parked_is_read_again(stack):
    async with topic(stack.bootstrap_servers) as t:
        await t.put(0, "first", "flaky", "last")
        tries: Counter[str] = Counter()

        async def handle(record) -> None:
            value = record.value.decode()
            tries[value] += 1
            if value == "flaky" and tries[value] == 1:
                raise RuntimeError("not this time")
            t.note(record)

        run = Running(t, handle)  # tried once, no dead-letter hook
        await run.until(lambda: _committed_at(t, run.group, 3), "all three committed")
        await run.finish()

    assert t.values() == ["first", "flaky", "last"]
    assert tries == {"first": 1, "flaky": 2, "last": 1}


async def test_a_partition_paused_with_a_full_queue_resumes_after_a_record_is_read_again(stack):
    # Batches of 2: while "slow" is in hand the partition's queue fills and it is paused; then
    # "flaky" fails once and is read again. The partition must not stay paused.
    async with topic(stack.bootstrap_servers) as t:
        values = ["slow", "flaky", *(f"r{i}" for i in range(8))]
        await t.put(0, *values)
        tries: Counter[str] = Counter()
        release = asyncio.Event()

        async def handle(record) -> None:
            value = record.value.decode()
            tries[value] += 1
            if value == "slow":
                await release.wait()
            if value == "flaky" and tries[value] == 1:
                raise RuntimeError("not this time")
            t.note(record)

        run = Running(t, handle, max_records=2)
        await run.until(lambda: tries["slow"] == 1, "the slow record started")
        await asyncio.sleep(1.0)  # more batches fetched meanwhile: the queue is full
        release.set()
        await run.until(lambda: _committed_at(t, run.group, len(values)), "every record committed")
        await run.finish()

    assert t.values() == values
    assert tries["flaky"] == 2


async def test_a_stop_ends_a_retry_wait_at_once_and_leaves_its_record_uncommitted(stack):
    async with topic(stack.bootstrap_servers) as t:
        await t.put(0, "done", "outage", "waiting")
        tries: Counter[str] = Counter()

        async def handle(record) -> None:
            value = record.value.decode()
            tries[value] += 1
            if value == "outage":
                raise ConnectionError("provider down")
            t.note(record)

        run = Running(
            t, handle, retry=RetryPolicy(initial_s=30.0, max_s=30.0), grace_s=20.0
        )  # retried until it works, 30 s apart
        await run.until(lambda: tries["outage"] == 1, "the first attempt at the outage record")
        took = await run.finish()
        committed = await t.committed(run.group)

    assert took < 2.0, f"the stop waited {took:.1f} s for a retry"
    assert tries == {"done": 1, "outage": 1}
    assert committed == {0: (1, "")}


async def _committed_at(t, group: str, offset: int) -> bool:
    return (await t.committed(group)).get(0, (0, ""))[0] == offset


async def test_a_partition_assigned_back_while_its_record_outlasts_the_drain_reads_on(stack):
    """A revoke waits `drain_s` for the records in hand; one that takes longer goes on running.
    When the partition comes back to the same consumer meanwhile, the records it fetched for it
    again are read once that record is done, not dropped until a restart."""
    async with topic(stack.bootstrap_servers) as t, topic(stack.bootstrap_servers) as other:
        release, started = asyncio.Event(), asyncio.Event()

        async def handle(record) -> None:
            if record.value == b"slow":
                started.set()
                await release.wait()
            t.note(record)

        async def handle_other(record) -> None:
            other.note(record)

        first = Running(t, handle, drain_s=0.5)
        await t.put(0, "slow", "next")
        await first.until(started.is_set, "the slow record in hand")
        # A second member of the group, reading another topic: the group rebalances, every
        # partition of the first is revoked, and this topic's, which only it reads, comes back.
        second = Running(other, handle_other, group=first.group)
        await other.put(0, "joined")
        await second.until(lambda: other.values() == ["joined"], "the rebalance done")
        await asyncio.sleep(1.5)  # the first member fetches its partition again meanwhile
        release.set()
        await first.until(lambda: "next" in t.values(), "the record after the slow one handled",
                          timeout=20)
        await second.finish()
        await first.finish()
        committed = await t.committed(first.group)

    assert t.values() == ["slow", "next"]
    assert committed == {0: (2, "")}
