"""The one Kafka consume loop: at-least-once, one record at a time, committed after it is handled.

Partitions run concurrently, each in order, and each at its own pace: records fetched for a
partition that is busy wait in its queue (the partition is paused while the queue holds a
full batch), so a slow record holds up its own partition only, never the fetch for the others
(the loop used to wait for every partition of a batch before fetching again: the bench's
end-to-end run kept a core idle behind the slowest customer). A record's offset is committed only after it was
handled (or parked in the DLQ), so a crash at any point means the record is read again; every
consumer here makes that harmless with keyed writes downstream.

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

A stop (SIGTERM) or the revoke of a partition takes effect between records: the record in hand
is finished and committed (with everything pending), the rest of the fetched batch is not touched (the next owner of the
partition reads it from the committed offset). The record in hand gets `grace_s` on stop and
`drain_s` on revoke; past that it is abandoned uncommitted and handled again later. A retry
waiting for its next attempt ends at once on stop or revoke, leaving its record uncommitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from services.common.metrics import KAFKA_CONSUMER_LAG
from services.common.retry import RetryPolicy, Stopped

log = logging.getLogger(__name__)

Handle = Callable[[ConsumerRecord], Awaitable[object]]
# (the record, the error it failed with, attempts made); returns once the record is parked.
DeadLetter = Callable[[ConsumerRecord, BaseException, int], Awaitable[None]]

# Each record is tried once: for handlers that retry their own steps and dead-letter
# themselves.
ONCE = RetryPolicy(attempts=1)


class PartitionedConsumer(ConsumerRebalanceListener):
    """The loop, and the rebalance listener that drains revoked partitions.

    Hooks for what differs between consumers:
    * `retry` / `dead_letter`: how often a record is tried and where it goes when it fails;
    * `commit_metadata(tp)`: metadata committed with each offset of `tp` (state that must
      move with the offset, e.g. a checkpoint);
    * `on_revoke(partitions)`: called after revoked partitions have drained, and for a
      partition whose commit failed (it has usually moved on): state kept for them is stale;
    * `collapse(records)`: which records of one partition's batch to handle, in order; the
      offsets it leaves out are committed with the next record it keeps, so it may only drop
      records that a later one supersedes."""

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
        # Offsets handled and not yet committed (the next offset to read, its metadata), the
        # task that commits them after the interval, and the lock that keeps commits in order.
        self._pending: dict[TopicPartition, tuple[int, str]] = {}
        self._committer: asyncio.Task | None = None
        self._commit_lock = asyncio.Lock()
        # Per partition with records in hand: its task, the records fetched for it and not yet
        # taken, and the event that ends it between records (and ends a retry's wait) once the
        # partition is revoked or the loop stops.
        self._running: dict[TopicPartition, asyncio.Task] = {}
        self._queued: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._halts: dict[TopicPartition, asyncio.Event] = {}
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
            if tp in self._halts:
                self._halts[tp].set()
            task = self._running.get(tp)
            if task is not None and not task.done():
                waiting.append(task)
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
                    if not self._running:
                        await self._caught_up()
                    continue
                for tp, records in batches.items():
                    self._queued.setdefault(tp, []).extend(records)
                    if tp not in self._running:
                        self._halts[tp] = asyncio.Event()
                        task = asyncio.create_task(self._run_partition(tp, self._halts[tp]))
                        self._running[tp] = task
                        task.add_done_callback(lambda t, tp=tp: self._ended(tp, t))
                    self._pause_if_full(tp)
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

    def _ended(self, tp: TopicPartition, task: asyncio.Task) -> None:
        if self._running.get(tp) is task:
            del self._running[tp]
            self._halts.pop(tp, None)
        if not task.cancelled() and task.exception() is not None:
            self._failed = self._failed or task.exception()

    def _pause_if_full(self, tp: TopicPartition) -> None:
        if len(self._queued.get(tp, ())) >= self.max_records and tp not in self._paused:
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
        tasks = list(self._running.values())
        for halt in self._halts.values():
            halt.set()
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

    async def _run_partition(self, tp: TopicPartition, halt: asyncio.Event) -> None:
        """Handles the partition's queued records in order until none is left."""
        try:
            while self._queued.get(tp):
                records, self._queued[tp] = self._queued[tp], []
                self._resume(tp)
                if not await self._run_records(tp, records, halt):
                    return  # the rest is read again from where it stopped
        finally:
            # Whatever is still queued is read again from the committed or sought offset; a
            # partition paused meanwhile must not stay paused with nothing left to take.
            self._queued.pop(tp, None)
            self._resume(tp)

    async def _run_records(
        self, tp: TopicPartition, records: list[ConsumerRecord], halt: asyncio.Event
    ) -> bool:
        """False when the partition stopped short of the end of `records`."""
        for record in self.collapse(records) if self.collapse else records:
            if halt.is_set() or self.stop.is_set():
                return False
            try:
                await self._handle(record, halt)
            except Stopped:
                return False  # left uncommitted for the next run
            except Exception:  # noqa: BLE001 - not handled and not parked: must not be skipped
                log.exception(
                    "record %s[%d]@%d not handled; reading it again", tp.topic, tp.partition, record.offset
                )
                self._read_again(tp, record.offset)
                return False
            metadata = self.commit_metadata(tp) if self.commit_metadata else ""
            self._pending[tp] = (record.offset + 1, metadata)
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
        attempts = 0
        try:
            async for attempt in self.retry.retrying(halt):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    await self.handle(record)
        except Stopped:
            raise
        except Exception as exc:
            if self.dead_letter is None:
                raise
            await self.dead_letter(record, exc, attempts)

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
