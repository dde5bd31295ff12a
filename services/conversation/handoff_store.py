"""SQL of the escalation queue (fte.handoff.v1.HandoffService) in schema `conversation`,
nothing else. Decisions come from `escalations`; this module reads, locks and writes. Each
move locks its escalation row (`FOR UPDATE`), so two people claiming at once are serialised
and the second sees the first's claim."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.errors import NotFound
from services.conversation import escalations, tickets
from services.conversation.escalations import Actor, Filters, Queued
from services.conversation.store import _messages, _set_ticket_status, _ticket
from services.conversation.tickets import Message

_QUEUED = """
SELECT e.escalation_id, e.ticket_id, t.conversation_id, t.customer_id,
       coalesce(nullif(e.context->'customer'->>'display_name', ''),
                e.context->'sender_names'->>0, '') AS customer_name,
       t.source_channel AS channel, e.reason, e.team, e.note, e.state, e.owner_subject,
       e.owner_name, e.create_time, e.reply_due_time, e.first_reply_time, e.resolve_time,
       e.resolution_note, t.subject, {context} AS context_json
  FROM conversation.escalations e
  JOIN conversation.tickets t ON t.ticket_id = e.ticket_id
"""


@dataclass(frozen=True)
class Reply:
    """A person's reply as stored."""

    message_id: uuid.UUID
    reply_id: str
    duplicate: bool
    delivery_status: str
    escalation: Queued


class HandoffStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list(self, filters: Filters, after: tuple[datetime, uuid.UUID] | None,
                   limit: int) -> list[Queued]:
        """Up to limit + 1 rows (the extra one tells that there is a next page)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _QUEUED.format(context="''")
                + " WHERE e.state = ANY($1::text[]) AND ($2 = '' OR e.team = $2)"
                "   AND ($3 = '' OR e.reason = $3)"
                "   AND ($4::timestamptz IS NULL OR e.create_time < $4)"
                "   AND ($5::timestamptz IS NULL OR (e.create_time, e.escalation_id) > ($5, $6))"
                " ORDER BY e.create_time, e.escalation_id LIMIT $7",
                list(filters.states), filters.team, filters.reason, filters.created_before,
                after[0] if after else None, after[1] if after else None, limit + 1,
            )
        return [Queued(**dict(r)) for r in rows]

    async def get(self, escalation_id: uuid.UUID) -> Queued:
        async with self._pool.acquire() as conn:
            return await _queued(conn, escalation_id)

    async def history(self, customer_id: uuid.UUID, limit: int) -> list[Message]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM (SELECT message_id, conversation_id, ticket_id, customer_id,"
                "  channel, direction, role, content, subject, create_time, delivery_status,"
                "  reply_id, idempotency_key, sentiment, thread_ref, sender_name,"
                "  sender_assurance, seq FROM conversation.messages WHERE customer_id = $1"
                "  ORDER BY create_time DESC, seq DESC LIMIT $2) last ORDER BY create_time, seq",
                customer_id, limit,
            )
        return [Message(**{k: r[k] for k in Message.__dataclass_fields__}) for r in rows]

    async def claim(self, escalation_id: uuid.UUID, actor: Actor, now: datetime) -> tuple[Queued, bool]:
        """Returns (the escalation, already claimed by the caller)."""
        async with self._pool.acquire() as conn, conn.transaction():
            e = await _queued(conn, escalation_id, lock=True)
            if not escalations.check_claim(e, actor):
                return e, True
            await conn.execute(
                "UPDATE conversation.escalations SET state = 'claimed', owner_subject = $2,"
                " owner_name = $3, claim_time = $4 WHERE escalation_id = $1",
                escalation_id, actor.subject, actor.name, now,
            )
            return await _queued(conn, escalation_id), False

    async def reply(self, escalation_id: uuid.UUID, actor: Actor, content: str,
                    idempotency_key: str, now: datetime) -> Reply:
        reply_id = escalations.reply_id(escalation_id, idempotency_key)
        async with self._pool.acquire() as conn, conn.transaction():
            e = await _queued(conn, escalation_id, lock=True)
            first = await conn.fetchrow(
                "SELECT message_id, delivery_status FROM conversation.messages"
                " WHERE reply_id = $1", reply_id,
            )
            if first is None:
                claims = escalations.check_reply(e, actor)
                ticket = await _ticket(conn, e.ticket_id)
                erased = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM conversation.customer_erasures"
                    " WHERE customer_id = $1)", ticket.customer_id,
                )
                first = await conn.fetchrow(
                    "INSERT INTO conversation.messages (message_id, conversation_id, ticket_id,"
                    "  customer_id, channel, direction, role, content, create_time, reply_id,"
                    "  delivery_status, sender_name)"
                    " VALUES ($1, $2, $3, $4, $5, 'outbound', 'human', $6, $7, $8, 'pending', $9)"
                    " RETURNING message_id, delivery_status",
                    uuid.uuid4(), ticket.conversation_id, ticket.ticket_id, ticket.customer_id,
                    ticket.source_channel, tickets.TOMBSTONE if erased else content, now,
                    reply_id, actor.name,
                )
                await conn.execute(
                    "UPDATE conversation.conversations SET message_count = message_count + 1,"
                    " last_message_time = GREATEST(last_message_time, $2)"
                    " WHERE conversation_id = $1", ticket.conversation_id, now,
                )
                await conn.execute(
                    "UPDATE conversation.escalations SET"
                    " first_reply_time = coalesce(first_reply_time, $2),"
                    " state = CASE WHEN $3 THEN 'claimed' ELSE state END,"
                    " owner_subject = CASE WHEN $3 THEN $4 ELSE owner_subject END,"
                    " owner_name = CASE WHEN $3 THEN $5 ELSE owner_name END,"
                    " claim_time = CASE WHEN $3 THEN $2 ELSE claim_time END"
                    " WHERE escalation_id = $1",
                    escalation_id, now, claims, actor.subject, actor.name,
                )
                e = await _queued(conn, escalation_id)
                duplicate = False
            else:
                duplicate = True
            return Reply(first["message_id"], reply_id, duplicate, first["delivery_status"], e)

    async def last_inbound(self, ticket_id: uuid.UUID, channel: str) -> Message | None:
        """The customer's last message on the ticket's channel: its thread, subject and time
        are what a reply answers."""
        async with self._pool.acquire() as conn:
            found = await _messages(
                conn, "ticket_id = $1 AND direction = 'inbound' AND channel = $2", ticket_id, channel,
            )
        return found[-1] if found else None

    async def resolve(self, escalation_id: uuid.UUID, actor: Actor, note: str,
                      now: datetime) -> tuple[Queued, bool]:
        """Returns (the escalation, already resolved). The ticket is resolved with its last
        open escalation, which hands the conversation back to the agent."""
        async with self._pool.acquire() as conn, conn.transaction():
            e = await _queued(conn, escalation_id, lock=True)
            if not escalations.check_resolve(e, actor):
                return e, True
            await conn.execute(
                "UPDATE conversation.escalations SET state = 'resolved', owner_subject = $2,"
                " owner_name = $3, resolve_time = $4, resolution_note = $5"
                " WHERE escalation_id = $1",
                escalation_id, actor.subject, actor.name, now, note,
            )
            ticket = await _ticket(conn, e.ticket_id, lock=True)
            others = await conn.fetchval(
                "SELECT count(*) FROM conversation.escalations WHERE ticket_id = $1"
                " AND state <> 'resolved'", e.ticket_id,
            )
            if not others and ticket.status == tickets.ESCALATED:
                await _set_ticket_status(
                    conn, ticket, tickets.RESOLVED,
                    f"escalation {e.reason} resolved by {actor.name}. {note}".strip(), now,
                )
            return await _queued(conn, escalation_id), False

    async def reopen(self, escalation_id: uuid.UUID, actor: Actor, note: str,
                     now: datetime) -> Queued:
        async with self._pool.acquire() as conn, conn.transaction():
            e = await _queued(conn, escalation_id, lock=True)
            escalations.check_reopen(e)
            await conn.execute(
                "UPDATE conversation.escalations SET state = 'open', owner_subject = '',"
                " owner_name = '', claim_time = NULL, resolve_time = NULL, resolution_note = ''"
                " WHERE escalation_id = $1", escalation_id,
            )
            ticket = await _ticket(conn, e.ticket_id, lock=True)
            if ticket.status == tickets.RESOLVED:
                # Outside the ticket state machine on purpose (resolved is final for the agent):
                # a person put it back with people; the event says who and why.
                await conn.execute(
                    "UPDATE conversation.tickets SET status = 'escalated', update_time = $2,"
                    " resolve_time = NULL WHERE ticket_id = $1", ticket.ticket_id, now,
                )
                await conn.execute(
                    "INSERT INTO conversation.ticket_events (ticket_id, from_status, to_status,"
                    " note, event_time) VALUES ($1, 'resolved', 'escalated', $2, $3)",
                    ticket.ticket_id,
                    f"escalation {e.reason} reopened by {actor.name}. {note}".strip(), now,
                )
                await conn.execute(
                    "UPDATE conversation.conversations SET status = 'escalated'"
                    " WHERE conversation_id = $1 AND status = 'active'", ticket.conversation_id,
                )
            return await _queued(conn, escalation_id)

    async def count_first_replies(self, now: datetime) -> list[tuple[str, str]]:
        """Marks every escalation newly settled against its promise and returns (team, kept |
        breached) for each: its first human reply came (in time or late), or none has and it is
        past due. Each escalation is counted once (`breach_counted`), whichever replica sees it."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE conversation.escalations SET breach_counted = true"
                " WHERE NOT breach_counted AND reply_due_time IS NOT NULL"
                "   AND (first_reply_time IS NOT NULL"
                "        OR (state <> 'resolved' AND reply_due_time < $1))"
                " RETURNING team, CASE WHEN first_reply_time <= reply_due_time"
                "                 THEN 'kept' ELSE 'breached' END AS promise", now,
            )
        return [(r["team"], r["promise"]) for r in rows]


async def _queued(conn: asyncpg.Connection, escalation_id: uuid.UUID, lock: bool = False) -> Queued:
    row = await conn.fetchrow(
        _QUEUED.format(context="e.context::text") + " WHERE e.escalation_id = $1"
        + (" FOR UPDATE OF e" if lock else ""), escalation_id,
    )
    if row is None:
        raise NotFound(f"escalation_id: escalation {escalation_id} does not exist")
    return Queued(**dict(row))
