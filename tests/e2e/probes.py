"""Looking at the pipeline from outside: what the database holds per ticket, what is on a topic,
and where the worker's consumer group stands. Read-only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from devstack import kafka
from tests import polling

WORKER_GROUP = "fte-inbound-worker"


@dataclass
class Outbound:
    role: str
    delivery_status: str
    content: str
    reply_id: str


@dataclass
class TicketRows:
    inbound: int = 0
    outbound: list[Outbound] = field(default_factory=list)


async def ticket_rows(admin_dsn: str, ticket_ids: list[str]) -> dict[str, TicketRows]:
    """The stored messages of each ticket that exists (tickets not stored yet are absent)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        # One snapshot, so a ticket stored between two reads cannot show messages but no ticket.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            tickets = await conn.fetch(
                "SELECT ticket_id::text AS t FROM conversation.tickets WHERE ticket_id = ANY($1::uuid[])",
                ticket_ids,
            )
            rows = await conn.fetch(
                """SELECT ticket_id::text AS t, direction, role, delivery_status, content, reply_id
                   FROM conversation.messages WHERE ticket_id = ANY($1::uuid[]) ORDER BY seq""",
                ticket_ids,
            )
    finally:
        await conn.close()
    out = {r["t"]: TicketRows() for r in tickets}
    for r in rows:
        if r["direction"] == "inbound":
            out[r["t"]].inbound += 1
        else:
            out[r["t"]].outbound.append(
                Outbound(r["role"], r["delivery_status"] or "", r["content"], r["reply_id"] or "")
            )
    return out


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.5) -> None:
    await polling.until(check, what, timeout, every)


async def submit_many(http: httpx.AsyncClient, n: int, label: str, concurrency: int = 20) -> dict[str, str]:
    """n web-form submissions from n different senders: ticket id → sender email, in submit
    order."""
    sent: list[tuple[str, str]] = [("", "")] * n
    tag = uuid.uuid4().hex[:6]

    async def one(i: int) -> None:
        email = f"{label}-{tag}-{i}@example.com"
        reply = await http.post(
            "/support/submit",
            json={
                "name": f"{label.title()} Tester {i}",
                "email": email,
                "subject": "Calendar sync question",
                "category": "general",
                "message": f"How often does calendar sync refresh? (message {i})",
            },
        )
        assert reply.status_code == 202, reply.text
        sent[i] = (reply.json()["ticket_id"], email)

    for start in range(0, n, concurrency):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + concurrency))))
    return dict(sent)


def _partitions(topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(kafka.topic_partitions()[topic])]


async def read_topic(bootstrap: str, topic: str, key_prefix: str = "") -> list:
    """Every record on the topic, from the beginning up to its current end; with `key_prefix`,
    only those whose key starts with it (a session's topic also holds other tests' records,
    poison ones included)."""
    # "earliest" from the start: a later seek_to_beginning can lose a race with the default
    # reset to the end that assign() starts.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = _partitions(topic)
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        records = []
        remaining = {tp for tp in parts if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, recs in batch.items():
                records += recs
                if recs and recs[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        prefix = key_prefix.encode()
        return [r for r in records if (r.key or b"").startswith(prefix)]
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, topic: str, group: str = WORKER_GROUP) -> dict[int, int]:
    """Partition → the group's committed offset (0 where it never committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=_partitions(topic))
    finally:
        await admin.close()
    return {tp.partition: max(meta.offset, 0) for tp, meta in offsets.items()}


async def group_members(bootstrap: str, group: str = WORKER_GROUP) -> dict[str, list[int]]:
    """Member id → the partitions assigned to it, for the members currently in the group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [described] = [g for g in response.groups if g[1] == group]
    members = {}
    for member in described[5]:
        # The assignment is each member's last field in every DescribeGroups version.
        raw = member[-1]
        assignment = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
        members[member[0]] = sorted(tp.partition for tp in assignment.partitions()) if assignment else []
    return members
