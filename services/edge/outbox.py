"""The edge's outbox: a message Kafka cannot take within the publish timeout is kept in the edge's
own table (schema `edge`, role `fte_edge`) and the provider hears success; a relay publishes the
kept messages, in order per sender, once Kafka is back.

`EdgePublisher.publish` is the one way the edge hands a message to Kafka (the form, the WhatsApp
webhook, the Gmail push):

1. a sender with messages still waiting in the outbox goes to the outbox too, behind them;
2. otherwise Kafka, waited for up to PUBLISH_TIMEOUT_S;
3. Kafka failed: the outbox, waited for up to OUTBOX_TIMEOUT_S;
4. both failed: `Unavailable`, which the routes answer 503 + Retry-After.

Nothing is ever dropped: a row leaves the table only after Kafka's ack for it. A message can
reach Kafka twice (a send that timed out may still land, the producer retries what it sent; a
relay stopped between the ack and the delete sends the row again): the idempotency key inside
it makes the copy harmless downstream, so the customer sees each message once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from google.protobuf.message import Message

from services.common.kafka import Headers, send_record, trace_headers
from services.common.metrics import EDGE_OUTBOX_DEPTH, EDGE_OUTBOX_MESSAGES, EDGE_OUTBOX_OLDEST_AGE
from services.common.retry import RetryPolicy, Stopped

log = logging.getLogger(__name__)

# One relay publishes at a time per outbox table (its oid in the key), whichever edge replica
# holds the lock.
_RELAY_LOCK = "hashtextextended('fte.edge.outbox.relay:' || 'outbox'::regclass::oid::text, 0)"
# What an unreachable or slow PostgreSQL raises through asyncpg.
OUTBOX_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)
# Kafka or PostgreSQL away: the relay tries again, 1 s to 10 s apart, until it works.
_RELAY_RETRY = RetryPolicy(initial_s=1.0, max_s=10.0, log_as="edge outbox relay")


class Unavailable(Exception):
    """Neither Kafka nor the outbox took the message: the caller answers 503."""


@dataclass(frozen=True)
class Depth:
    messages: int
    oldest_age_s: float


class Outbox:
    """The `edge.outbox` table. Every call is bounded by `timeout_s`, so a PostgreSQL that is
    down or slow costs a request that much and no more."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        # A relayed send that timed out, by row id. The producer keeps retrying it (it cannot
        # withdraw a record), so the next pass waits for that same send instead of adding a copy
        # per attempt for the whole outage.
        self._sending: dict[int, asyncio.Future] = {}

    async def store(self, topic: str, key: str, value: bytes, headers: Headers) -> None:
        kept = json.dumps([[k, base64.b64encode(v).decode()] for k, v in headers])
        await asyncio.wait_for(
            self._pool.execute(
                "INSERT INTO outbox (topic, record_key, value, headers) VALUES ($1, $2, $3, $4::jsonb)",
                topic, key, value, kept),
            self._timeout_s)

    async def look(self) -> tuple[Depth, set[str]]:
        """How many messages wait, the oldest one's age, and the senders they are from."""
        async def read(conn: asyncpg.Connection):
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                depth = await conn.fetchrow(
                    "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(stored_at)), 0) AS age"
                    " FROM outbox")
                keys = await conn.fetch("SELECT DISTINCT record_key FROM outbox")
            return Depth(depth["n"], float(depth["age"])), {r["record_key"] for r in keys}

        async with asyncio.timeout(self._timeout_s):
            async with self._pool.acquire() as conn:
                return await read(conn)

    async def relay(self, producer: AIOKafkaProducer, send_timeout_s: float) -> int:
        """Publishes waiting rows in insertion order, each deleted after its ack, while this
        replica holds the relay lock; returns how many went out (0: another replica relays).
        A send that fails ends the pass with the row kept, and the next pass starts from it."""
        sent = 0
        async with self._pool.acquire() as conn:
            if not await asyncio.wait_for(
                    conn.fetchval(f"SELECT pg_try_advisory_lock({_RELAY_LOCK})"), self._timeout_s):
                return 0
            try:
                while rows := await asyncio.wait_for(conn.fetch(
                        "SELECT id, topic, record_key, value, headers FROM outbox ORDER BY id LIMIT 100"),
                        self._timeout_s):
                    for row in rows:
                        sending = self._sending.get(row["id"])
                        if sending is None:
                            headers = [(k, base64.b64decode(v)) for k, v in json.loads(row["headers"])]
                            sending = self._sending[row["id"]] = asyncio.ensure_future(send_record(
                                producer, row["topic"], row["record_key"], bytes(row["value"]), headers))
                            sending.add_done_callback(lambda f, row_id=row["id"]: self._forget(row_id, f))
                        await asyncio.wait_for(asyncio.shield(sending), send_timeout_s)
                        await asyncio.wait_for(
                            conn.execute("DELETE FROM outbox WHERE id = $1", row["id"]), self._timeout_s)
                        self._sending.pop(row["id"], None)
                        EDGE_OUTBOX_MESSAGES.labels("relayed").inc()
                        sent += 1
            finally:
                # Should this fail, asyncpg's reset of a released connection (or its loss) frees
                # the session's advisory locks all the same.
                with contextlib.suppress(*OUTBOX_ERRORS):
                    await asyncio.wait_for(
                        conn.execute(f"SELECT pg_advisory_unlock({_RELAY_LOCK})"), self._timeout_s)
        return sent

    def _forget(self, row_id: int, done: asyncio.Future) -> None:
        """A send that failed is dropped, so the next pass sends the row afresh; one that landed
        stays until its row is deleted, so the next pass deletes it without sending again."""
        if done.cancelled() or done.exception() is not None:
            if self._sending.get(row_id) is done:
                del self._sending[row_id]

    def close(self) -> None:
        for sending in self._sending.values():
            sending.cancel()


class EdgePublisher:
    """The edge's publish: Kafka, else the outbox, else `Unavailable` (see the module docstring).
    `outbox` None (no DATABASE_URL): Kafka or `Unavailable`, as before the outbox."""

    def __init__(
        self,
        get_producer: Callable[[], AIOKafkaProducer | None],
        outbox: Outbox | None,
        publish_timeout_s: float,
        relay_poll_s: float = 1.0,
    ) -> None:
        self._get_producer = get_producer
        self.outbox = outbox
        self._publish_timeout_s = publish_timeout_s
        self._relay_poll_s = relay_poll_s
        # One message per sender at a time in this replica, so a later message never overtakes
        # an earlier one still waiting for Kafka or being stored.
        self._sender_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Senders with messages in the outbox, as of the relay's last look, plus those this
        # replica stored since (monotonic time of the store).
        self._waiting: set[str] = set()
        self._stored_here: dict[str, float] = {}
        self._wake = asyncio.Event()
        self.depth: Depth | None = None

    def _producer(self) -> AIOKafkaProducer:
        producer = self._get_producer()
        if producer is None:
            raise KafkaConnectionError("not connected")
        return producer

    def _sender_waits(self, key: str) -> bool:
        # Across replicas a window remains: a message replica A stored less than one relay poll
        # (RELAY_POLL_S) ago is not in replica B's view yet, so a later message from the same
        # sender reaching B within that time may go straight to Kafka ahead of it. Within one
        # replica there is none: its own stores count at once.
        return key in self._waiting or key in self._stored_here

    async def publish(self, topic: str, key: str, message: Message) -> Literal["published", "stored"]:
        value = message.SerializeToString()
        lock = self._sender_locks.setdefault(key, asyncio.Lock())
        async with lock:
            outbox_tried = False
            if self.outbox is not None and self._sender_waits(key):
                try:
                    return await self._store(topic, key, value)
                except OUTBOX_ERRORS as exc:
                    # Its earlier messages are stuck in an outbox we cannot reach; sending this
                    # one ahead of them beats losing it.
                    outbox_tried = True
                    log.warning("outbox unreachable (%s): a waiting sender's message goes to Kafka "
                                "ahead of its earlier ones", type(exc).__name__)
            try:
                # A send that times out is not withdrawn: the producer keeps retrying it, so it
                # may land once Kafka is back, next to the outbox's copy. Same idempotency key:
                # the worker handles them as one message.
                await asyncio.wait_for(send_record(self._producer(), topic, key, value),
                                       self._publish_timeout_s)
                return "published"
            except (KafkaError, asyncio.TimeoutError) as exc:
                log.warning("publish to %s failed: %s", topic, type(exc).__name__)
                if self.outbox is None or outbox_tried:
                    raise Unavailable("neither Kafka nor an outbox took the message") from exc
                try:
                    return await self._store(topic, key, value)
                except OUTBOX_ERRORS as db_exc:
                    log.warning("outbox unreachable too: %s", type(db_exc).__name__)
                    raise Unavailable("neither Kafka nor the outbox took the message") from db_exc

    async def _store(self, topic: str, key: str, value: bytes) -> Literal["stored"]:
        assert self.outbox is not None
        # The trace context of the request goes with it: the relayed record stays in its trace.
        await self.outbox.store(topic, key, value, trace_headers())
        self._stored_here[key] = time.monotonic()
        EDGE_OUTBOX_MESSAGES.labels("stored").inc()
        self._wake.set()
        return "stored"

    async def look(self) -> Depth:
        """Reads the outbox's depth and waiting senders (also the gauges)."""
        assert self.outbox is not None
        started = time.monotonic()
        depth, waiting = await self.outbox.look()
        # A store that committed after the read began may be missing from it: keep counting it.
        self._stored_here = {k: t for k, t in self._stored_here.items() if t >= started}
        self._waiting = waiting
        self.depth = depth
        EDGE_OUTBOX_DEPTH.set(depth.messages)
        # Read at scrape time from the oldest message's time, so the age keeps growing (and the
        # alert fires) while the outbox cannot be looked at because PostgreSQL is away too.
        oldest = time.time() - depth.oldest_age_s if depth.messages else None
        EDGE_OUTBOX_OLDEST_AGE.set_function(lambda: time.time() - oldest if oldest is not None else 0.0)
        return depth

    async def run_relay(self, stop: asyncio.Event) -> None:
        """Until `stop`: every RELAY_POLL_S (or at once after a store) look at the outbox and
        relay what waits. Kafka or PostgreSQL failing is tried again with backoff, for ever:
        a row Kafka keeps refusing holds up the rows behind it rather than being dropped."""
        if self.outbox is None:
            return
        try:
            await self._relay_until(stop)
        finally:
            self.outbox.close()

    async def _relay_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await _RELAY_RETRY.call(self._relay_pass, stop=stop)
            except Stopped:
                return
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_first(stop.wait(), self._wake.wait()), self._relay_poll_s)

    async def _relay_pass(self) -> None:
        assert self.outbox is not None
        depth = await self.look()
        if depth.messages == 0:
            return
        sent = await self.outbox.relay(self._producer(), self._publish_timeout_s)
        if sent:
            log.info("outbox relay: %d message(s) published", sent)
            await self.look()


async def _first(*aws) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
