"""SQL for schema `conversation`, nothing else. Decisions come from `tickets`; this module
reads, locks and writes. Inbound messages of one customer are serialised by a transaction-
scoped advisory lock on the customer id: the window and channel-switch decisions read the
open conversation and must not interleave. Unique constraints back every idempotency key."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from datetime import datetime

import asyncpg

from services.common import business_hours
from services.common.errors import AlreadyExists, FailedPrecondition, NotFound
from services.common.metrics import TICKETS_CLOSED
from services.common.retry import in_transaction
from services.common.teams import TEAMS
from services.conversation import tickets
from services.conversation.escalations import notice_due
from services.conversation.tickets import (
    ChannelSwitch,
    Conversation,
    Escalation,
    Inbound,
    InboundResult,
    Message,
    Outbound,
    Ticket,
)

log = logging.getLogger(__name__)

# The customer a (possibly merged-away) customer id $1 now stands for: the end of its chain
# of reassignments.
_FINAL_CUSTOMER = """
    WITH RECURSIVE chain(customer_id, depth) AS (
        SELECT $1::uuid, 0
        UNION ALL
        SELECT r.target_customer_id, c.depth + 1
          FROM chain c
          JOIN conversation.customer_reassignments r ON r.source_customer_id = c.customer_id
         WHERE c.depth < 50)
    SELECT customer_id FROM chain ORDER BY depth DESC LIMIT 1
"""

# Namespaces this service's advisory locks (two-int form) away from anyone else's.
_LOCK_CLASS = 7_301
_ATTEMPTS = 4

_MESSAGE_COLUMNS = (
    "message_id, conversation_id, ticket_id, customer_id, channel, direction, role, content,"
    " subject, create_time, delivery_status, reply_id, idempotency_key, sentiment, thread_ref,"
    " sender_name, sender_assurance"
)
_TICKET_COLUMNS = (
    "ticket_id, customer_id, conversation_id, source_channel, category, priority, status,"
    " subject, create_time, update_time, resolve_time"
)
_ESCALATION_COLUMNS = (
    "escalation_id, ticket_id, reason, note, context::text AS context_json, create_time, team,"
    " reply_due_time"
)
_CONVERSATION_COLUMNS = (
    "conversation_id, customer_id, status, initial_channel, current_channel, start_time,"
    " last_message_time, message_count"
)


# The moves `_set_ticket_status` does nothing more for than write the ticket and its event
# (no conversation status to change, no closed-ticket count), by target: the states each
# starts from.
_PLAIN_MOVE_SOURCES = {
    target: [s for s in tickets.sources_of(target) if s != tickets.ESCALATED]
    for target in tickets.TRANSITIONS if target not in (tickets.ESCALATED, tickets.RESOLVED)
}


class ConversationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- RecordInbound ------------------------------------------------------------------

    async def record_inbound(self, m: Inbound, now: datetime) -> InboundResult:
        at = tickets.message_time(m.receive_time, now)
        # The same key (or ticket id) arriving for another customer at the same time is a
        # unique violation; the next attempt reads what the winner stored.
        return await in_transaction(
            self._pool,
            lambda conn: _record_inbound_and_hold(conn, m, at, now),
            attempts=_ATTEMPTS,
            retry_on=lambda exc: isinstance(exc, asyncpg.UniqueViolationError),
            exhausted="conversation lost every race for the same message; retry",
        )

    # --- RecordOutbound / UpdateDeliveryStatus --------------------------------------------

    async def record_outbound(self, o: Outbound, now: datetime) -> tuple[uuid.UUID, bool, str]:
        """Returns (message id, duplicate, stored delivery status). A reply already recorded
        (the dispatcher's call after the worker's, a redelivery) costs one read, which goes on
        while writes wait (a table lock); a new reply of a customer who was not erased (the
        worker's call) one more statement, the ticket read inside the insert; an unknown
        ticket or an erased customer then read what they need."""
        async with self._pool.acquire() as conn:
            first = await _recorded_reply(conn, o)
            if first is not None:
                return first
            row = await _insert_reply(conn, o, now, unless_erased=True)
            if row is not None:
                return row["message_id"], False, row["delivery_status"]
            erased = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM conversation.customer_erasures e"
                "  WHERE e.customer_id = t.customer_id)"
                " FROM conversation.tickets t WHERE ticket_id = $1", o.ticket_id,
            )
            if erased is None:
                raise NotFound(f"ticket_id: ticket {o.ticket_id} does not exist")
            row = await _insert_reply(conn, tickets.erased_outbound(o) if erased else o, now,
                                      unless_erased=False)
            if row is None:
                # The same reply id was recorded by a concurrent call since the first read.
                return await _recorded_reply(conn, o)
            return row["message_id"], False, row["delivery_status"]

    async def update_delivery(
        self, reply_id: str, reported: str, external_id: str, error: str, now: datetime
    ) -> tuple[uuid.UUID, str, str]:
        """(message id, status stored now, status stored before), in one statement that locks
        the reply's row. A report that moves nothing and adds no id or error (a repeat) writes
        nothing, so the update time stays the time the status last moved; which stored
        statuses a report moves is `tickets.next_delivery_status`'s to say."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "WITH old AS (SELECT message_id, delivery_status FROM conversation.messages"
                "  WHERE reply_id = $1 FOR NO KEY UPDATE),"
                " w AS (UPDATE conversation.messages m SET delivery_status = CASE"
                "  WHEN old.delivery_status = ANY($6::text[]) THEN $2 ELSE old.delivery_status END,"
                "  delivery_update_time = $3,"
                "  delivery_external_id = CASE WHEN $4 = '' THEN m.delivery_external_id ELSE $4 END,"
                "  delivery_error = CASE WHEN $5 = '' THEN m.delivery_error ELSE $5 END"
                "  FROM old WHERE m.message_id = old.message_id"
                "  AND (old.delivery_status = ANY($6::text[]) OR $4 <> '' OR $5 <> ''))"
                " SELECT message_id, delivery_status FROM old",
                reply_id, reported, now, external_id, error,
                tickets.delivery_statuses_moved_by(reported),
            )
        if row is None:
            raise NotFound(f"reply_id: no reply was recorded as {reply_id!r}")
        before = row["delivery_status"]
        return row["message_id"], tickets.next_delivery_status(before, reported), before

    # --- reads ----------------------------------------------------------------------------

    async def history(self, customer_id: uuid.UUID, limit: int) -> list[Message]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM (SELECT {_MESSAGE_COLUMNS}, seq FROM conversation.messages"
                "  WHERE customer_id = $1 ORDER BY create_time DESC, seq DESC LIMIT $2) last"
                " ORDER BY create_time, seq", customer_id, limit,
            )
        return [_message(r) for r in rows]

    async def ticket(
        self, ticket_id: uuid.UUID
    ) -> tuple[Ticket, list[Message], list[Escalation]] | None:
        async with self._pool.acquire() as conn:
            ticket = await _ticket(conn, ticket_id)
            if ticket is None:
                return None
            messages = await _messages(conn, "ticket_id = $1", ticket_id)
            escalations = await conn.fetch(
                f"SELECT {_ESCALATION_COLUMNS} FROM conversation.escalations WHERE ticket_id = $1"
                " ORDER BY create_time, reason", ticket_id,
            )
        return ticket, messages, [Escalation(**dict(r)) for r in escalations]

    async def conversation(
        self, conversation_id: uuid.UUID
    ) -> tuple[Conversation, list[Message], list[Ticket]] | None:
        async with self._pool.acquire() as conn:
            found = await _conversations(conn, "conversation_id = $1", conversation_id)
            if not found:
                return None
            messages = await _messages(conn, "conversation_id = $1", conversation_id)
            rows = await conn.fetch(
                f"SELECT {_TICKET_COLUMNS} FROM conversation.tickets WHERE conversation_id = $1"
                " ORDER BY create_time, ticket_id", conversation_id,
            )
        return found[0], messages, [Ticket(**dict(r)) for r in rows]

    async def list_conversations(self, customer_id: uuid.UUID) -> list[Conversation]:
        async with self._pool.acquire() as conn:
            return await _conversations(conn, "customer_id = $1", customer_id)

    # --- UpdateTicketStatus / Escalate ------------------------------------------------------

    async def update_ticket_status(
        self, ticket_id: uuid.UUID, status: str, note: str, now: datetime
    ) -> Ticket:
        """A move that touches nothing but the ticket and its event (open → processing, every
        reply's) is one statement; the others, a ticket not in a state that move starts from,
        and an unknown ticket take the locked read and `_set_ticket_status`."""
        sources = _PLAIN_MOVE_SOURCES.get(status)
        async with self._pool.acquire() as conn:
            if sources:
                moved = await _move_ticket(conn, ticket_id, status, note, now, sources)
                if moved is not None:
                    return moved
            async with conn.transaction():
                ticket = await _ticket(conn, ticket_id, lock=True)
                if ticket is None:
                    raise NotFound(f"ticket_id: ticket {ticket_id} does not exist")
                if not tickets.check_transition(ticket.status, status):
                    return ticket
                return await _set_ticket_status(conn, ticket, status, note, now)

    async def ticket_customer(self, ticket_id: uuid.UUID) -> uuid.UUID:
        async with self._pool.acquire() as conn:
            customer_id = await conn.fetchval(
                "SELECT customer_id FROM conversation.tickets WHERE ticket_id = $1", ticket_id
            )
        if customer_id is None:
            raise NotFound(f"ticket_id: ticket {ticket_id} does not exist")
        return customer_id

    async def escalate(
        self, ticket_id: uuid.UUID, reason: str, note: str, now: datetime, customer: dict
    ) -> tuple[Escalation, bool]:
        """`customer` is what IdentityService said about the ticket's customer, asked before
        this transaction so no lock is held across a network call."""
        async with self._pool.acquire() as conn, conn.transaction():
            ticket = await _ticket(conn, ticket_id, lock=True)
            if ticket is None:
                raise NotFound(f"ticket_id: ticket {ticket_id} does not exist")
            existing = await conn.fetchrow(
                f"SELECT {_ESCALATION_COLUMNS} FROM conversation.escalations"
                " WHERE ticket_id = $1 AND reason = $2",
                ticket_id, reason,
            )
            if existing is not None:
                stored = json.loads(existing["context_json"])
                if not tickets.completes_customer(stored, customer):
                    return Escalation(**dict(existing)), True
                existing = await conn.fetchrow(
                    "UPDATE conversation.escalations SET context = jsonb_set(context,"
                    " '{customer}', $2::jsonb) WHERE escalation_id = $1"
                    f" RETURNING {_ESCALATION_COLUMNS}",
                    existing["escalation_id"], json.dumps(customer),
                )
                return Escalation(**dict(existing)), True
            tickets.check_escalatable(ticket.status)
            conversation = (await _conversations(conn, "conversation_id = $1", ticket.conversation_id))[0]
            messages = await _messages(conn, "conversation_id = $1", ticket.conversation_id)
            context = tickets.escalation_context(ticket, conversation, messages, customer)
            row = await conn.fetchrow(
                "INSERT INTO conversation.escalations (escalation_id, ticket_id, reason, note,"
                " context, create_time, team, reply_due_time)"
                " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
                f" RETURNING {_ESCALATION_COLUMNS}",
                uuid.uuid4(), ticket_id, reason, note, json.dumps(context), now,
                TEAMS.team_for(reason), business_hours.reply_due(now),
            )
            if ticket.status != tickets.ESCALATED:
                await _set_ticket_status(
                    conn, ticket, tickets.ESCALATED, f"escalated: {reason}. {note}".strip(), now
                )
            return Escalation(**dict(row)), False

    # --- ReassignCustomer -----------------------------------------------------------------

    async def reassign(
        self, source: uuid.UUID, target: uuid.UUID, now: datetime
    ) -> tuple[int, int, list[uuid.UUID]]:
        """Moves conversations, tickets and messages, and records the move so a message for the
        source that arrives later is recorded for the target. Idempotent: a repeat moves only
        what is left. A customer keeps one open conversation (`tickets.keep_open`). Returns
        (conversations moved, messages moved, conversations closed)."""
        async with self._pool.acquire() as conn, conn.transaction():
            for customer_id in sorted((source, target)):
                await _lock_customer(conn, customer_id)
            # A target merged onward since (B into C, then a retried A into B): A goes to C.
            final = await _final_customer(conn, target)
            if final == source:
                raise FailedPrecondition(
                    f"target_customer_id: customer {target} was itself merged into {source}"
                )
            if final != target:
                await _lock_customer(conn, final)
            recorded = await conn.fetchval(
                "INSERT INTO conversation.customer_reassignments (source_customer_id,"
                " target_customer_id, reassign_time) VALUES ($1, $2, $3)"
                " ON CONFLICT (source_customer_id) DO UPDATE"
                " SET source_customer_id = EXCLUDED.source_customer_id"
                " RETURNING target_customer_id", source, target, now,
            )
            if recorded != target:
                raise FailedPrecondition(
                    f"source_customer_id: customer {source} was already merged into {recorded}"
                )
            kept, closing = tickets.keep_open(await _conversations(
                conn, "customer_id = ANY($1::uuid[]) AND status <> 'closed'", [source, final],
                lock=True,
            ))
            for c in closing:
                await _close_for_merge(conn, c, kept, source, final, now)
            moved = await conn.execute(
                "UPDATE conversation.conversations SET customer_id = $2 WHERE customer_id = $1",
                source, final,
            )
            await conn.execute(
                "UPDATE conversation.tickets SET customer_id = $2 WHERE customer_id = $1",
                source, final,
            )
            messages = await conn.execute(
                "UPDATE conversation.messages SET customer_id = $2 WHERE customer_id = $1",
                source, final,
            )
        return _count(moved), _count(messages), [c.conversation_id for c in closing]

    # --- EraseCustomerContent ----------------------------------------------------------------

    async def erase_customer_content(self, customer_id: uuid.UUID) -> dict[str, int]:
        """Replaces the personal text of the customer's messages, tickets, ticket events and
        escalations by the tombstone; rows, ids, statuses, channels, counts and times stay, so
        metrics add up as before. Only rows that still hold something are written: a repeat
        changes nothing. Under the customer's lock, so no message is recorded half-way."""
        t = tickets.TOMBSTONE

        def erased(column: str) -> str:
            return f"{column} = CASE WHEN {column} IN ('', $2) THEN {column} ELSE $2 END"

        def holds(column: str) -> str:
            return f"{column} NOT IN ('', $2)"

        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_customer(conn, customer_id)
            # Recorded first: a message for this customer recorded after this transaction is
            # stored tombstoned (RecordInbound checks it under the same lock).
            await conn.execute(
                "INSERT INTO conversation.customer_erasures (customer_id, erase_time)"
                " VALUES ($1, now()) ON CONFLICT (customer_id) DO NOTHING", customer_id,
            )
            ticket_ids = await conn.fetchval(
                "SELECT coalesce(array_agg(ticket_id), '{}') FROM conversation.tickets"
                " WHERE customer_id = $1", customer_id,
            )
            text_columns = ("content", "subject", "thread_ref", "sender_name", "delivery_error")
            messages = await conn.execute(
                "UPDATE conversation.messages SET "
                + ", ".join(erased(c) for c in text_columns)
                # The tools' names and outcomes stay (they are metrics); their arguments go.
                + ", tool_calls = CASE WHEN jsonb_typeof(tool_calls) <> 'array' THEN tool_calls"
                "   ELSE (SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(c) = 'object'"
                "     THEN c || jsonb_build_object('arguments_json', $2::text)"
                "     ELSE to_jsonb($2::text) END), '[]') FROM jsonb_array_elements(tool_calls) c) END"
                " WHERE (customer_id = $1 OR ticket_id = ANY($3::uuid[])) AND ("
                + " OR ".join(holds(c) for c in text_columns)
                + " OR (jsonb_typeof(tool_calls) = 'array' AND jsonb_path_exists(tool_calls,"
                "   '$[*] ? (@.arguments_json != $t)',"
                "   jsonb_build_object('t', $2::text))))",
                customer_id, t, ticket_ids,
            )
            ticket_rows = await conn.execute(
                f"UPDATE conversation.tickets SET {erased('subject')}"
                f" WHERE ticket_id = ANY($1::uuid[]) AND {holds('subject')}", ticket_ids, t,
            )
            events = await conn.execute(
                f"UPDATE conversation.ticket_events SET {erased('note')}"
                f" WHERE ticket_id = ANY($1::uuid[]) AND {holds('note')}", ticket_ids, t,
            )
            escalations = 0
            for row in await conn.fetch(
                "SELECT escalation_id, note, resolution_note, context::text AS context"
                " FROM conversation.escalations WHERE ticket_id = ANY($1::uuid[]) FOR UPDATE",
                ticket_ids,
            ):
                context = json.loads(row["context"])
                cleaned = tickets.erased_context(context)
                note = t if row["note"] else ""
                resolution = t if row["resolution_note"] else ""
                if (cleaned, note, resolution) == (context, row["note"], row["resolution_note"]):
                    continue
                await conn.execute(
                    "UPDATE conversation.escalations SET note = $2, context = $3::jsonb,"
                    " resolution_note = $4 WHERE escalation_id = $1",
                    row["escalation_id"], note, json.dumps(cleaned), resolution,
                )
                escalations += 1
        return {
            "messages_erased": _count(messages),
            "tickets_erased": _count(ticket_rows),
            "ticket_events_erased": _count(events),
            "escalations_erased": escalations,
        }

    # --- GetChannelMetrics ------------------------------------------------------------------

    async def channel_metrics(self, since: datetime | None) -> list[dict]:
        """Per channel, from the tables: a conversation counts on every channel it had a
        message on; escalations count tickets escalated at least once (so the rate is a
        share of tickets); latency is RecordOutbound.latency_ms; sentiment is over inbound."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                WITH channels(channel) AS (VALUES ('email'), ('whatsapp'), ('web_form')),
                m AS (
                    SELECT channel,
                           count(*) AS messages,
                           count(DISTINCT conversation_id) AS conversations,
                           avg(latency_ms) FILTER (WHERE direction = 'outbound')::float8
                               AS avg_latency,
                           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
                               FILTER (WHERE direction = 'outbound') AS p95_latency,
                           avg(sentiment) FILTER (WHERE direction = 'inbound') AS avg_sentiment
                      FROM conversation.messages
                     WHERE create_time >= coalesce($1::timestamptz, '-infinity')
                     GROUP BY channel),
                t AS (
                    SELECT t.source_channel AS channel,
                           count(*) AS tickets,
                           count(*) FILTER (WHERE EXISTS (
                               SELECT 1 FROM conversation.escalations e
                                WHERE e.ticket_id = t.ticket_id)) AS escalations
                      FROM conversation.tickets t
                     WHERE t.create_time >= coalesce($1::timestamptz, '-infinity')
                     GROUP BY t.source_channel)
                SELECT c.channel,
                       coalesce(m.conversations, 0) AS conversations,
                       coalesce(m.messages, 0) AS messages,
                       coalesce(t.tickets, 0) AS tickets,
                       coalesce(t.escalations, 0) AS escalations,
                       coalesce(m.avg_latency, 0) AS avg_latency,
                       coalesce(m.p95_latency, 0) AS p95_latency,
                       coalesce(m.avg_sentiment, 0) AS avg_sentiment
                  FROM channels c
                  LEFT JOIN m USING (channel)
                  LEFT JOIN t USING (channel)
                 ORDER BY array_position(ARRAY['email', 'whatsapp', 'web_form'], c.channel)
                """,
                since,
            )
        return [dict(r) for r in rows]


async def _lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, str(customer_id)
    )


async def _recorded_reply(
    conn: asyncpg.Connection, o: Outbound
) -> tuple[uuid.UUID, bool, str] | None:
    """RecordOutbound's answer for a reply id already recorded: (message id, duplicate, stored
    delivery status), None when it is new. A reply id is one reply of one ticket."""
    first = await conn.fetchrow(
        "SELECT message_id, ticket_id, delivery_status FROM conversation.messages"
        " WHERE reply_id = $1", o.reply_id,
    )
    if first is None:
        return None
    if first["ticket_id"] != o.ticket_id:
        raise FailedPrecondition(f"reply_id: already used for ticket {first['ticket_id']}")
    return first["message_id"], True, first["delivery_status"]


async def _insert_reply(
    conn: asyncpg.Connection, o: Outbound, now: datetime, *, unless_erased: bool
) -> asyncpg.Record | None:
    """Stores a new reply of ticket `o.ticket_id`, and its conversation's counters, in one
    statement; None when the reply id is taken, the ticket does not exist or (with
    `unless_erased`) its customer was erased."""
    return await conn.fetchrow(
        "WITH t AS (SELECT conversation_id, customer_id, source_channel"
        "  FROM conversation.tickets t WHERE ticket_id = $2 AND NOT ($13 AND EXISTS ("
        "   SELECT 1 FROM conversation.customer_erasures e WHERE e.customer_id = t.customer_id))),"
        " m AS (INSERT INTO conversation.messages (message_id, conversation_id, ticket_id,"
        "  customer_id, channel, direction, role, content, create_time, reply_id,"
        "  delivery_status, input_tokens, output_tokens, latency_ms, tool_calls)"
        "  SELECT $1, t.conversation_id, $2, t.customer_id, COALESCE(NULLIF($3, ''),"
        "   t.source_channel), 'outbound', $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb FROM t"
        "  ON CONFLICT (reply_id) DO NOTHING RETURNING message_id, conversation_id,"
        "  delivery_status),"
        " c AS (UPDATE conversation.conversations SET message_count = message_count + 1,"
        "  last_message_time = GREATEST(last_message_time, $6)"
        "  WHERE conversation_id = (SELECT conversation_id FROM m))"
        " SELECT message_id, delivery_status FROM m",
        uuid.uuid4(), o.ticket_id, o.channel, o.role, o.content, now, o.reply_id,
        o.delivery_status, o.input_tokens, o.output_tokens, o.latency_ms,
        json.dumps(o.tool_calls), unless_erased,
    )


async def _erased(conn: asyncpg.Connection, customer_id: uuid.UUID) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM conversation.customer_erasures WHERE customer_id = $1)",
        customer_id,
    )


async def _final_customer_and_erased(
    conn: asyncpg.Connection, customer_id: uuid.UUID, ticket_id: uuid.UUID | None
) -> tuple[uuid.UUID, bool, uuid.UUID | None]:
    """`_final_customer`, whether that customer was erased, and the customer ticket
    `ticket_id` belongs to (None when there is no such ticket), in one round trip."""
    row = await conn.fetchrow(
        f"SELECT f.customer_id, EXISTS (SELECT 1 FROM conversation.customer_erasures e"
        f"  WHERE e.customer_id = f.customer_id) AS erased,"
        f" (SELECT t.customer_id FROM conversation.tickets t WHERE t.ticket_id = $2) AS owner"
        f" FROM ({_FINAL_CUSTOMER}) f",
        customer_id, ticket_id,
    )
    return row["customer_id"], row["erased"], row["owner"]


async def _final_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> uuid.UUID:
    """The customer a (possibly merged-away) customer id now stands for."""
    return await conn.fetchval(_FINAL_CUSTOMER, customer_id)


async def _close_for_merge(
    conn: asyncpg.Connection, closing: Conversation, kept: Conversation,
    source: uuid.UUID, target: uuid.UUID, now: datetime,
) -> None:
    """Closes an open conversation a merge made redundant. Its escalated tickets stay escalated
    (people still answer them) and each gets a note saying where the customer now writes."""
    await conn.execute(
        "UPDATE conversation.conversations SET status = 'closed', close_time = $2"
        " WHERE conversation_id = $1", closing.conversation_id, now,
    )
    await conn.execute(
        "INSERT INTO conversation.ticket_events (ticket_id, from_status, to_status, note,"
        " event_time) SELECT ticket_id, status, status, $2, $3 FROM conversation.tickets"
        " WHERE conversation_id = $1 AND status = 'escalated'",
        closing.conversation_id,
        f"conversation {closing.conversation_id} closed by the merge of customer {source} into"
        f" {target}; the customer's open conversation is {kept.conversation_id}",
        now,
    )
    log.warning(
        "merge %s -> %s closed %s conversation %s; open one is %s",
        source, target, closing.status, closing.conversation_id, kept.conversation_id,
    )


async def _record_inbound_and_hold(
    conn: asyncpg.Connection, m: Inbound, at: datetime, now: datetime
) -> InboundResult:
    """RecordInbound, then whether a person holds the conversation (a claimed escalation on
    one of its tickets) and whether the customer is due the hold notice. Under the customer's
    lock, so two replicas' messages cannot both be told; a repeat of the same message answers
    what the first was answered. A new message nobody holds moves on to processing when the
    agent answers next (`begin_processing`), in the same transaction."""
    result = await _record_inbound(conn, m, at, now)
    # Nobody can hold a conversation this message just started.
    if not result.new_conversation or result.duplicate:
        held = await _held(conn, result, now)
        if held is not None:
            return held
    if m.begin_processing and not result.duplicate:
        ticket = await _move_ticket(conn, result.ticket_id, tickets.PROCESSING, tickets.ANSWERING,
                                    now, [tickets.OPEN])
        return dataclasses.replace(result, ticket_status=ticket.status)
    return result


async def _held(conn: asyncpg.Connection, result: InboundResult, now: datetime) -> InboundResult | None:
    """`result` with who holds its conversation and whether the hold notice is due; None when
    nobody holds it."""
    held_by = await conn.fetchval(
        "SELECT e.owner_name FROM conversation.escalations e"
        " JOIN conversation.tickets t ON t.ticket_id = e.ticket_id"
        " WHERE t.conversation_id = $1 AND e.state = 'claimed'"
        " ORDER BY e.claim_time DESC NULLS LAST LIMIT 1", result.conversation_id,
    )
    if held_by is None:
        return None
    notice = await conn.fetchrow(
        "SELECT message_id, notice_time FROM conversation.hold_notices"
        " WHERE conversation_id = $1 FOR UPDATE", result.conversation_id,
    )
    if result.duplicate:
        due = notice is not None and notice["message_id"] == result.message_id
    else:
        due = notice_due(notice["notice_time"] if notice else None, now)
        if due:
            await conn.execute(
                "INSERT INTO conversation.hold_notices (conversation_id, message_id, notice_time)"
                " VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE"
                " SET message_id = EXCLUDED.message_id, notice_time = EXCLUDED.notice_time",
                result.conversation_id, result.message_id, now,
            )
    return dataclasses.replace(result, held_by=held_by or "A member of our support team",
                               hold_notice_due=due)


async def _record_inbound(
    conn: asyncpg.Connection, m: Inbound, at: datetime, now: datetime
) -> InboundResult:
    await _lock_customer(conn, m.customer_id)
    first = await _inbound_result(
        conn, "m.channel = $1 AND m.idempotency_key = $2", m.channel, m.idempotency_key
    )
    if first is not None:
        return first
    # Resolved before a merge, arriving after it: the message belongs to the merge target.
    # ReassignCustomer holds this customer's lock while it moves everything, so a message
    # either was moved by it or is redirected here; none stays behind on a merged-away id.
    # Resolved before the customer was erased, arriving after: stored as the erasure left the
    # rest (EraseCustomerContent holds this customer's lock while it erases and records it).
    final, erased, owner = await _final_customer_and_erased(conn, m.customer_id, m.requested_ticket_id)
    if final != m.customer_id:
        await _lock_customer(conn, final)
        m = dataclasses.replace(m, customer_id=final)
        erased = await _erased(conn, final)  # read again under the merge target's lock
    if erased:
        m = tickets.erased_inbound(m)
    if m.requested_ticket_id is not None:
        if owner is not None and owner != m.customer_id:
            raise FailedPrecondition(
                f"requested_ticket_id: ticket {m.requested_ticket_id} belongs to another customer"
            )
        if owner is not None:
            stored = await conn.fetchrow(
                "SELECT channel, content, subject, idempotency_key FROM conversation.messages"
                " WHERE ticket_id = $1 AND direction = 'inbound' ORDER BY seq LIMIT 1",
                m.requested_ticket_id,
            )
            if not tickets.same_message(stored, m):
                # Another message under a ticket id already used: answering "duplicate" would
                # drop it, and one ticket holds one customer message.
                raise AlreadyExists(
                    f"requested_ticket_id: ticket {m.requested_ticket_id} already holds another"
                    f" message (idempotency key {stored['idempotency_key']!r}); send this one"
                    " without requested_ticket_id or with a new ticket id"
                )
            # The same message again under a regenerated key: a retry; answer the first result.
            return await _inbound_result(conn, "m.ticket_id = $1", m.requested_ticket_id)

    open_rows = await _conversations(
        conn, "customer_id = $1 AND status <> 'closed'", m.customer_id, lock=True
    )
    current = open_rows[0] if open_rows else None
    plan = tickets.attach(current, m.channel, at)
    if plan.close_open_one:
        # Its own statement: the one-open-conversation index must see it closed before the
        # new conversation is inserted.
        await conn.execute(
            "UPDATE conversation.conversations SET status = 'closed', close_time = $2"
            " WHERE conversation_id = $1", current.conversation_id, at,
        )
    conversation_id = uuid.uuid4() if plan.new_conversation else current.conversation_id
    ticket_id = m.requested_ticket_id or uuid.uuid4()
    message_id = uuid.uuid4()
    switch = (ChannelSwitch(plan.switch_from, m.channel, at, message_id)
              if plan.switch_from is not None else None)
    # One statement writes the conversation (new, or its counters), the ticket, its first
    # event, the message and a channel switch: foreign keys are checked at its end.
    conversation_write = (
        "INSERT INTO conversation.conversations (conversation_id, customer_id, status,"
        "  initial_channel, current_channel, start_time, last_message_time, message_count)"
        "  VALUES ($1, $2, 'active', $3, $3, $4, $4, 1)"
        if plan.new_conversation else
        "UPDATE conversation.conversations SET current_channel = $3, message_count ="
        "  message_count + 1, last_message_time = GREATEST(last_message_time, $4)"
        "  WHERE conversation_id = $1"
    )
    switch_write = (
        ", s AS (INSERT INTO conversation.channel_switches (message_id, conversation_id,"
        "  from_channel, to_channel, switch_time) VALUES ($10, $1, $18, $3, $4))"
        if switch is not None else ""
    )
    await conn.execute(
        f"WITH c AS ({conversation_write}),"
        " t AS (INSERT INTO conversation.tickets (ticket_id, customer_id, conversation_id,"
        "  source_channel, category, priority, status, subject, create_time, update_time)"
        "  VALUES ($5, $2, $1, $3, $6, $7, 'open', $8, $9, $9)),"
        " e AS (INSERT INTO conversation.ticket_events (ticket_id, from_status, to_status,"
        "  event_time) VALUES ($5, NULL, 'open', $9)),"
        " m AS (INSERT INTO conversation.messages (message_id, conversation_id, ticket_id,"
        "  customer_id, channel, direction, role, content, subject, create_time,"
        "  idempotency_key, thread_ref, sender_name, sentiment, sender_assurance)"
        "  VALUES ($10, $1, $5, $2, $3, 'inbound', 'customer', $11, $12, $4, $13, $14, $15,"
        f"  $16, $17)){switch_write}"
        " SELECT 1",
        conversation_id, m.customer_id, m.channel, at, ticket_id, m.category, m.priority,
        tickets.ticket_subject(m.subject, m.content), now, message_id, m.content, m.subject,
        m.idempotency_key, m.thread_ref, m.sender_name, tickets.sentiment(m.content),
        m.sender_assurance, *([switch.from_channel] if switch is not None else []),
    )
    return InboundResult(
        customer_id=m.customer_id,
        conversation_id=conversation_id,
        ticket_id=ticket_id,
        message_id=message_id,
        duplicate=False,
        new_conversation=plan.new_conversation,
        channel_switch=switch,
    )


async def _inbound_result(conn: asyncpg.Connection, where: str, *args) -> InboundResult | None:
    """What RecordInbound answered the first time for the message matching `where`."""
    row = await conn.fetchrow(
        "SELECT m.customer_id, m.conversation_id, m.ticket_id, m.message_id,"
        "  m.seq = (SELECT min(f.seq) FROM conversation.messages f"
        "           WHERE f.conversation_id = m.conversation_id) AS new_conversation,"
        "  s.from_channel, s.to_channel, s.switch_time, t.status AS ticket_status"
        " FROM conversation.messages m"
        " JOIN conversation.tickets t ON t.ticket_id = m.ticket_id"
        " LEFT JOIN conversation.channel_switches s ON s.message_id = m.message_id"
        f" WHERE m.direction = 'inbound' AND {where} ORDER BY m.seq LIMIT 1",
        *args,
    )
    if row is None:
        return None
    switch = None
    if row["from_channel"] is not None:
        switch = ChannelSwitch(row["from_channel"], row["to_channel"], row["switch_time"], row["message_id"])
    return InboundResult(
        customer_id=row["customer_id"],
        conversation_id=row["conversation_id"],
        ticket_id=row["ticket_id"],
        message_id=row["message_id"],
        duplicate=True,
        new_conversation=row["new_conversation"],
        channel_switch=switch,
        ticket_status=row["ticket_status"],
    )


async def _move_ticket(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, status: str, note: str, now: datetime,
    sources: list[str],
) -> Ticket | None:
    """Moves the ticket to `status` and records the move as its event, in one statement that
    takes the ticket's row lock; None (nothing written) unless the ticket exists and is in
    one of `sources`."""
    row = await conn.fetchrow(
        "WITH old AS (SELECT ticket_id AS old_id, status AS old_status"
        "  FROM conversation.tickets WHERE ticket_id = $1 FOR NO KEY UPDATE),"
        " t AS (UPDATE conversation.tickets SET status = $2, update_time = $3,"
        "  resolve_time = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolve_time END FROM old"
        "  WHERE ticket_id = old_id AND old_status = ANY($4::text[])"
        f"  RETURNING {_TICKET_COLUMNS}, old_status),"
        " e AS (INSERT INTO conversation.ticket_events (ticket_id, from_status, to_status,"
        "  note, event_time) SELECT ticket_id, old_status, $2, $5, $3 FROM t)"
        f" SELECT {_TICKET_COLUMNS} FROM t",
        ticket_id, status, now, sources, note,
    )
    return None if row is None else Ticket(**dict(row))


async def _set_ticket_status(
    conn: asyncpg.Connection, ticket: Ticket, status: str, note: str, now: datetime
) -> Ticket:
    # The caller read `ticket` under its row lock, so it moves from the status read.
    moved = await _move_ticket(conn, ticket.ticket_id, status, note, now, [ticket.status])
    assert moved is not None, "the ticket's row lock is the caller's to hold"
    if status == tickets.RESOLVED and ticket.status != tickets.RESOLVED:
        # fte_tickets_closed: by a person when one ever took part (an escalation, a human reply).
        by_person = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversation.escalations WHERE ticket_id = $1)"
            " OR EXISTS (SELECT 1 FROM conversation.messages WHERE ticket_id = $1 AND role = 'human')",
            ticket.ticket_id,
        )
        TICKETS_CLOSED.labels(ticket.source_channel, "person" if by_person else "agent").inc()
    # The conversation shows escalated while any of its tickets is with people.
    if status == tickets.ESCALATED:
        await conn.execute(
            "UPDATE conversation.conversations SET status = 'escalated'"
            " WHERE conversation_id = $1 AND status = 'active'", ticket.conversation_id,
        )
    elif ticket.status == tickets.ESCALATED:
        await conn.execute(
            "UPDATE conversation.conversations c SET status = 'active'"
            " WHERE c.conversation_id = $1 AND c.status = 'escalated' AND NOT EXISTS ("
            "   SELECT 1 FROM conversation.tickets t"
            "    WHERE t.conversation_id = c.conversation_id AND t.status = 'escalated')",
            ticket.conversation_id,
        )
    return moved


async def _ticket(conn: asyncpg.Connection, ticket_id: uuid.UUID, lock: bool = False) -> Ticket | None:
    # Locks only against other status changes: NO KEY UPDATE lets messages and escalations
    # referencing the ticket (their foreign-key checks take KEY SHARE) be written meanwhile.
    row = await conn.fetchrow(
        f"SELECT {_TICKET_COLUMNS} FROM conversation.tickets WHERE ticket_id = $1"
        + (" FOR NO KEY UPDATE" if lock else ""), ticket_id,
    )
    return None if row is None else Ticket(**dict(row))


async def _messages(conn: asyncpg.Connection, where: str, *args) -> list[Message]:
    rows = await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM conversation.messages WHERE {where}"
        " ORDER BY create_time, seq", *args,
    )
    return [_message(r) for r in rows]


async def _conversations(
    conn: asyncpg.Connection, where: str, *args, lock: bool = False
) -> list[Conversation]:
    rows = await conn.fetch(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversation.conversations WHERE {where}"
        " ORDER BY start_time DESC, conversation_id" + (" FOR NO KEY UPDATE" if lock else ""),
        *args,
    )
    if not rows:
        return []
    switches = await conn.fetch(
        "SELECT conversation_id, from_channel, to_channel, switch_time, message_id"
        " FROM conversation.channel_switches WHERE conversation_id = ANY($1::uuid[])"
        " ORDER BY switch_time, message_id", [r["conversation_id"] for r in rows],
    )
    by_conversation: dict[uuid.UUID, list[ChannelSwitch]] = {}
    for s in switches:
        by_conversation.setdefault(s["conversation_id"], []).append(
            ChannelSwitch(s["from_channel"], s["to_channel"], s["switch_time"], s["message_id"])
        )
    return [
        Conversation(**dict(r), channel_switches=by_conversation.get(r["conversation_id"], []))
        for r in rows
    ]


def _message(row: asyncpg.Record) -> Message:
    return Message(**{k: row[k] for k in Message.__dataclass_fields__})


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
