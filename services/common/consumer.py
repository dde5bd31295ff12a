"""The one Kafka consume loop: at-least-once, each record committed after it is handled.

Partitions run concurrently, each in order, and each at its own pace: records fetched for a
partition that is busy wait in its queue (the partition is paused while it holds a full batch),
so a slow record holds up its own partition only, never the fetch for the others (the loop used
to wait for every partition of a batch before fetching again: the bench's end-to-end run kept a
core idle behind the slowest customer). With a `key` hook a partition's records of different
keys run side by side too, one key's in offset order, at most `max_in_flight` of the consumer at
once, taking the free slots in the order they were fetched: a slow record then holds up its own
key only (the inbound worker's: one sender). A partition's offset is committed up to its first
record not handled yet (or parked in the DLQ), so a crash at any point means that record and
any after it are read again; every consumer here makes that harmless with keyed writes
downstream.

Commits trail the records by up to `commit_interval_s`: a partition goes on to its next record
while the offsets of every partition handled meanwhile go to the broker in one request (an
OffsetCommit per record was a third of the broker's CPU per reply and a tenth of the
pipeline's: tests/bench/README.md). A crash redoes at most that interval's records, which the
keyed writes make harmless as they do for the record in hand. A revoke and a stop commit what
is pending before they return.

Each record is tried as its `RetryPolicy` says; one that still fails goes to `dead_letter`
and is committed, so it never blocks its partition. Without a dead-letter hook, or when the
hook fails too, the record is left uncommitted and read again.

Lag (`fte_kafka_consumer_lag{group,topic,partition}`): the partition's high watermark (from the
last fetch) minus the offset committed, set after each commit, and minus the position when a
fetch comes back empty, so a drained partition reads 0; a revoked partition's series is removed.

A stop (SIGTERM) or the revoke of a partition takes effect between records: the records in
hand are finished and committed (with everything pending), the rest of the fetched batch is not
started (the next owner of the partition reads it from the committed offset; with a `key` hook
that may include a record handled after one of its partition that had to wait for its key). The
records in hand get `grace_s` on stop and `drain_s` on revoke; past that they are abandoned
uncommitted and handled again later. A retry
waiting for its next attempt ends at once on stop or revoke, leaving its record uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from services.common.metrics import KAFKA_CONSUMER_LAG
from services.common.retry import Counted, RetryPolicy, Stopped

log = logging.getLogger(__name__)

Handle = Callable[[ConsumerRecord], Awaitable[object]]
# (the record, the error it failed with, attempts made); returns once the record is parked.
DeadLetter = Callable[[ConsumerRecord, BaseException, int], Awaitable[None]]

# Each record is tried once: for handlers that retry their own steps and dead-letter
# themselves.
ONCE = RetryPolicy(attempts=1)


@dataclass(eq=False)
class _PartitionRun:
    """One partition's records in hand: from its first queued record until none is left."""

    tp: TopicPartition
    # Set on revoke and stop: ends the run between records (and a retry's wait); records not
    # started stay uncommitted.
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # records queued or done, a halt
    task: asyncio.Task | None = None
    tasks: dict[int, asyncio.Task] = field(default_factory=dict)  # offset → its task, not reaped
    last_of: dict[object, asyncio.Task] = field(default_factory=dict)  # key → its latest task
    unfinished: dict[int, None] = field(default_factory=dict)  # offsets taken, not handled, in order
    started: set[int] = field(default_factory=set)  # offsets being handled right now
    taken_to: int = 0  # past the last record taken
    committed_to: int = 0  # the offset last put up for commit
    failed_at: int | None = None  # the first record that failed: read again from it

    def stop(self) -> None:
        self.halt.set()
        self.wake.set()

    def prune(self) -> None:
        """Forgets finished tasks; raises the error of one that failed outside its handling."""
        for offset in [o for o, task in self.tasks.items() if task.done()]:
            task = self.tasks.pop(offset)
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        for key in [k for k, task in self.last_of.items() if task.done()]:
            del self.last_of[key]


class PartitionedConsumer(ConsumerRebalanceListener):
    """The loop, and the rebalance listener that drains revoked partitions.

    Hooks for what differs between consumers:
    * `retry` / `dead_letter`: how often a record is tried and where it goes when it fails;
    * `commit_metadata(tp)`: metadata committed with each offset of `tp` (state that must
      move with the offset, e.g. a checkpoint);
    * `on_revoke(partitions)`: called after revoked partitions have drained, and for a
      partition whose commit failed (it has usually moved on): state kept for them is stale;
    * `collapse(records)`: which records of one partition's batch to handle, in order; the
      offsets it leaves out are committed with the record before the next one it keeps, so it
      may only drop records that a later one supersedes;
    * `key(record)` / `max_in_flight`: records of a partition with different keys run at the
      same time (of one key, in offset order), at most `max_in_flight` of the whole consumer
      at once (unset: one per partition assigned, the work in flight it had without `key`),
      taking the free slots in the order they were fetched. Without `key`, each partition runs
      in order, one record at a time. A partition's offset is committed up to its first record
      not handled yet."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        handle: Handle,
        stop: asyncio.Event,
        *,
        grace_s: float,
        drain_s: float,
        retry: RetryPolicy = ONCE,
        dead_letter: DeadLetter | None = None,
        commit_metadata: Callable[[TopicPartition], str] | None = None,
        on_revoke: Callable[[Collection[TopicPartition]], None] | None = None,
        collapse: Callable[[list[ConsumerRecord]], list[ConsumerRecord]] | None = None,
        batch_ms: int = 500,
        max_records: int = 100,
        commit_interval_s: float = 0.25,
        key: Callable[[ConsumerRecord], object] | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.consumer = consumer
        self.handle = handle
        self.stop = stop
        self.grace_s = grace_s
        self.drain_s = drain_s
        self.retry = retry
        self.dead_letter = dead_letter
        self.commit_metadata = commit_metadata
        self.on_revoke = on_revoke
        self.collapse = collapse
        self.batch_ms = batch_ms
        self.max_records = max_records
        self.commit_interval_s = commit_interval_s
        self.key = key
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        # Offsets handled and not yet committed (the next offset to read, its metadata), the
        # task that commits them after the interval, and the lock that keeps commits in order.
        self._pending: dict[TopicPartition, tuple[int, str]] = {}
        self._committer: asyncio.Task | None = None
        self._commit_lock = asyncio.Lock()
        # Per partition with records in hand: its run, and the records fetched for it and not
        # yet taken.
        self._runs: dict[TopicPartition, _PartitionRun] = {}
        self._queued: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._paused: set[TopicPartition] = set()
        # A partition task that failed outside the record handling (a bug): the loop ends with
        # its error, its records uncommitted, as it would have in the task itself.
        self._failed: BaseException | None = None
        self.group = getattr(consumer, "_group_id", None) or ""

    async def on_partitions_revoked(self, revoked) -> None:
        """Called by aiokafka before the group rebalances, while the commits of this
        generation still count: lets the revoked partitions finish and commit their record."""
        waiting = []
        for tp in revoked:
            run = self._runs.get(tp)
            if run is not None:
                run.stop()
                if run.task is not None and not run.task.done():
                    waiting.append(run.task)
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=self.drain_s)
            if late:
                log.warning("%d revoked partition(s) still busy after %.0f s", len(late), self.drain_s)
        await self._commit_pending()  # while this generation's commits still count
        for tp in revoked:
            # Fetched but not taken: the partition's next owner reads them from the commit.
            self._queued.pop(tp, None)
            self._paused.discard(tp)
            # Its lag is the new owner's to report now; a stale value here would mislead.
            with contextlib.suppress(KeyError):
                KAFKA_CONSUMER_LAG.remove(self.group, tp.topic, str(tp.partition))
        if self.on_revoke is not None:
            self.on_revoke(revoked)

    async def on_partitions_assigned(self, assigned) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        if self.key is not None and not self.max_in_flight:
            # Every run was halted by the revoke before this, so nothing waits on the old slots.
            self._slots = asyncio.Semaphore(max(1, len(self.consumer.assignment())))

    async def run(self) -> None:
        """Consumes until the stop event is set (the consumer must be started and subscribed
        with this object as its listener)."""
        try:
            while not self.stop.is_set():
                batches = await self._fetch()
                if self._failed is not None:
                    raise self._failed
                if batches is None:
                    break
                if not batches:
                    if not self._runs:
                        await self._caught_up()
                    continue
                for tp, records in batches.items():
                    self._queued.setdefault(tp, []).extend(records)
                    run = self._runs.get(tp)
                    if run is None:
                        run = self._runs[tp] = _PartitionRun(tp)
                        run.task = asyncio.create_task(self._run_partition(run))
                        run.task.add_done_callback(self._ended)
                    run.wake.set()
                    self._pause_if_full(run)
        finally:
            await self._finish()

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord]] | None:
        """The next records, or None once stop is set (a partition task that failed ends the
        loop here too, with its error)."""
        fetch = asyncio.ensure_future(
            self.consumer.getmany(timeout_ms=self.batch_ms, max_records=self.max_records))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            return None
        return fetch.result()

    def _ended(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._failed = self._failed or task.exception()

    def _pause_if_full(self, run: _PartitionRun) -> None:
        tp = run.tp
        if len(self._queued.get(tp, ())) + len(run.tasks) >= self.max_records and tp not in self._paused:
            with contextlib.suppress(IllegalStateError):
                self.consumer.pause(tp)
                self._paused.add(tp)

    def _resume(self, tp: TopicPartition) -> None:
        if tp in self._paused:
            self._paused.discard(tp)
            with contextlib.suppress(IllegalStateError):
                self.consumer.resume(tp)

    def _lag(self, tp: TopicPartition, done: int) -> None:
        """Records of `tp` at or after offset `done` that the partition holds (last fetch)."""
        highwater = self.consumer.highwater(tp)
        if highwater is not None:
            KAFKA_CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, highwater - done))

    async def _caught_up(self) -> None:
        """Nothing fetched: every assigned partition is read up to its position."""
        for tp in self.consumer.assignment():
            if self.consumer.highwater(tp) is None:
                continue
            with contextlib.suppress(IllegalStateError, KafkaError, asyncio.TimeoutError):
                self._lag(tp, await asyncio.wait_for(self.consumer.position(tp), 1))
            if self.stop.is_set():
                return

    async def _finish(self) -> None:
        """On stop: the records in hand get the grace period to finish and commit."""
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        for run in self._runs.values():
            run.stop()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.grace_s)
            if late:
                log.warning("grace period of %.0f s over: abandoning records in hand uncommitted",
                            self.grace_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        self._queued.clear()
        await self._commit_pending()
        if self._committer is not None:
            self._committer.cancel()

    async def _run_partition(self, run: _PartitionRun) -> None:
        """Takes the partition's records as they are queued, each into a task of its own
        (`_run_record`), until none is queued or in hand. Records of one key (all of them
        without a `key` hook) run one after another in offset order; with `max_in_flight`,
        the records of every partition take the free slots in the order they were taken."""
        tp = run.tp
        try:
            while not (run.halt.is_set() or self.stop.is_set() or run.failed_at is not None):
                records, self._queued[tp] = self._queued.get(tp, []), []
                for record in self.collapse(records) if self.collapse and records else records:
                    key = self.key(record) if self.key else None
                    task = asyncio.create_task(self._run_record(run, record, run.last_of.get(key)))
                    run.last_of[key] = run.tasks[record.offset] = task
                    run.unfinished[record.offset] = None
                if records:
                    run.taken_to = records[-1].offset + 1
                run.prune()
                if len(run.tasks) < self.max_records:
                    self._resume(tp)
                if not run.tasks and not self._queued.get(tp):
                    return
                run.wake.clear()
                await run.wake.wait()
        except asyncio.CancelledError:
            for task in run.tasks.values():  # past the grace period: abandoned, uncommitted
                task.cancel()
            raise
        finally:
            await self._end_run(run)

    async def _end_run(self, run: _PartitionRun) -> None:
        """The records in hand finish; those not started stay uncommitted (read again from the
        commit, or from the first one that failed while this consumer owns the partition)."""
        tp = run.tp
        for offset, task in run.tasks.items():
            if offset not in run.started:
                task.cancel()
        try:
            if run.tasks:
                try:
                    await asyncio.shield(asyncio.gather(*run.tasks.values(), return_exceptions=True))
                except asyncio.CancelledError:
                    for task in run.tasks.values():
                        task.cancel()
                    await asyncio.gather(*run.tasks.values(), return_exceptions=True)
                    raise
        finally:
            # Records fetched for the partition and not taken: a halted run leaves them (a
            # revoke whose records outlast the drain, the partition assigned back to this
            # consumer meanwhile), and a failed one left the rest of its batch.
            left = self._queued.pop(tp, None)
            if run.failed_at is not None:
                self._read_again(tp, run.failed_at)
            elif left:
                # This consumer has fetched past them: it reads them again, from the first one
                # this run did not handle (nothing while the partition is someone else's).
                self._read_again(tp, max(left[0].offset, run.committed_to))
            # A partition paused meanwhile must not stay paused with nothing left to take.
            if self._runs.get(tp) is run:
                del self._runs[tp]  # now: records fetched from here on start a new run
            self._resume(tp)
        run.prune()  # a record's bug (not its handling failing) ends the loop with its error

    async def _run_record(self, run: _PartitionRun, record: ConsumerRecord, after: asyncio.Task | None) -> bool:
        """Handles one record once its key's record before it was handled and a slot is free.
        False when it was not handled (stopped, failed, or its key's earlier record was not)."""
        try:
            return await self._run_record_in_turn(run, record, after)
        finally:
            run.wake.set()

    async def _run_record_in_turn(self, run: _PartitionRun, record: ConsumerRecord,
                                  after: asyncio.Task | None) -> bool:
        if after is not None:
            await asyncio.wait([after])
            if after.cancelled() or after.exception() is not None or not after.result():
                return False
        async with self._slots if self._slots is not None else contextlib.nullcontext():
            if run.halt.is_set() or self.stop.is_set() or run.failed_at is not None:
                return False
            run.started.add(record.offset)
            try:
                await self._handle(record, run.halt)
            except Stopped:
                return False  # left uncommitted for the next run
            except Exception:  # noqa: BLE001 - not handled and not parked: must not be skipped
                log.exception("record %s[%d]@%d not handled; reading it again",
                              record.topic, record.partition, record.offset)
                if run.failed_at is None or record.offset < run.failed_at:
                    run.failed_at = record.offset
                return False
            finally:
                run.started.discard(record.offset)  # a busy partition's run may last for days
        del run.unfinished[record.offset]
        # The partition's commit: its first record not handled yet, or past everything taken.
        to = next(iter(run.unfinished), run.taken_to)
        if to > run.committed_to:
            run.committed_to = to
            metadata = self.commit_metadata(run.tp) if self.commit_metadata else ""
            self._pending[run.tp] = (to, metadata)
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._commit_behind())
        return True

    async def _commit_behind(self) -> None:
        """Commits what is pending once the interval has passed, until nothing is."""
        while self._pending:
            await asyncio.sleep(self.commit_interval_s)
            try:
                await self._commit_pending()
            except Exception:  # noqa: BLE001 - the records are read again; the loop goes on
                log.exception("committing consumed offsets failed")

    async def _commit_pending(self) -> None:
        """One commit of every partition's pending offset. A failed commit (typically the
        partition went to another consumer) leaves its records to be read again by whoever owns
        the partition: every write downstream is keyed, so the repeat changes nothing."""
        async with self._commit_lock:
            offsets, self._pending = self._pending, {}
            if not offsets:
                return
            try:
                await self.consumer.commit(offsets)
            except asyncio.CancelledError:
                for tp, pending in offsets.items():  # not known to be committed: still pending
                    self._pending.setdefault(tp, pending)
                raise
            except (KafkaError, IllegalStateError) as exc:
                log.warning("commit of %s failed: %s", ", ".join(
                    f"{tp.topic}[{tp.partition}]@{offset - 1}" for tp, (offset, _) in offsets.items()
                ), type(exc).__name__)
                if self.on_revoke is not None:
                    self.on_revoke(list(offsets))
                return
            assigned = self.consumer.assignment()
            for tp, (offset, _) in offsets.items():
                if tp in assigned:  # a partition revoked meanwhile is its new owner's to report
                    self._lag(tp, offset)

    async def _handle(self, record: ConsumerRecord, halt: asyncio.Event) -> None:
        attempt = Counted(self.handle, record)
        try:
            await self.retry.call(attempt, stop=halt)
        except Stopped:
            raise
        except Exception as exc:
            if self.dead_letter is None:
                raise
            await self.dead_letter(record, exc, attempt.attempts)

    def _read_again(self, tp: TopicPartition, offset: int) -> None:
        """The rest of the fetched batch is not handled: while this consumer still owns the
        partition it fetches from `offset` again instead of skipping ahead."""
        with contextlib.suppress(IllegalStateError):
            self.consumer.seek(tp, offset)


async def consume(
    bootstrap_servers: str,
    group_id: str,
    topics: Sequence[str],
    handle: Handle,
    stop: asyncio.Event,
    **options,
) -> None:
    """Runs a `PartitionedConsumer` (`options` are its keyword arguments) in consumer group
    `group_id` until `stop`, then leaves the group so its partitions move on at once."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    loop = PartitionedConsumer(consumer, handle, stop, **options)
    consumer.subscribe(list(topics), listener=loop)
    await consumer.start()
    try:
        log.info("consuming %s as %s", ", ".join(topics), group_id)
        await loop.run()
    finally:
        await consumer.stop()
