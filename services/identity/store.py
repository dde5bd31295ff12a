"""SQL for schema `identity`, nothing else. Decisions come from `resolver`; this module only
reads, locks and writes, and retries a transaction that lost a race."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.common.retry import in_transaction, is_database_conflict
from services.identity import linking, resolver
from services.identity.linking import Link
from services.identity.resolver import (
    TOMBSTONE,
    Customer,
    Erasure,
    Identifier,
    Merge,
    Name,
    StoredIdentifier,
)

# A lost race costs one retry; more than a handful means something is badly wrong.
_ATTEMPTS = 8
# A customer's identifiers in the order `Customer.identifiers` lists them.
_IDENTIFIER_ORDER = "i.create_time, i.kind, i.value"


@dataclass(frozen=True)
class LinkResult:
    """What one ConfirmLink did in schema identity."""

    outcome: str  # a linking outcome (never RIGHT_CODE)
    link: Link | None  # the customer's latest link, as stored now
    customer: Customer
    merge_id: uuid.UUID | None = None  # the merge the right code made (now or on the first try)
    merge_source: uuid.UUID | None = None  # that merge's source: its conversations must move
    new_merge: bool = False  # made by this call (not a retry finishing an earlier one)


class _LostRace(Exception):
    """Another transaction wrote what this one was about to: roll back and look again."""


def _lost_race(exc: BaseException) -> bool:
    return isinstance(exc, _LostRace) or is_database_conflict(exc)


class IdentityStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _retrying(self, work):
        return await in_transaction(
            self._pool,
            work,
            attempts=_ATTEMPTS,
            retry_on=_lost_race,
            exhausted=f"identity lost {_ATTEMPTS} races for the same customer; retry",
        )

    # --- reads -------------------------------------------------------------------------

    async def get(self, customer_id: uuid.UUID) -> Customer | None:
        # One statement: consistent without a transaction of its own.
        async with self._pool.acquire() as conn:
            return await _load(conn, customer_id)

    async def find(self, identifier: Identifier) -> Customer | None:
        # Two queries: one snapshot keeps them consistent.
        async with self._pool.acquire() as conn, _snapshot(conn):
            owner = await conn.fetchval(
                "SELECT customer_id FROM identity.customer_identifiers WHERE kind = $1 AND value = $2",
                identifier.kind, identifier.value,
            )
            return None if owner is None else await _load(conn, owner)

    # --- ResolveCustomer -----------------------------------------------------------------

    async def resolve(
        self, identifiers: list[Identifier], channel: str, name: str, claimed: bool = False
    ) -> tuple[Customer, bool, list[StoredIdentifier]]:
        """Upserts, never check-then-insert: a new customer and its identifiers are inserted
        in one transaction; if any identifier turns out to be taken meanwhile (the primary key
        said so), the whole transaction rolls back and the next attempt finds the winner.

        A claimed sender's name is recorded only on a customer the claim created: an existing
        customer is not renamed by whoever typed their address."""

        async def work(conn: asyncpg.Connection):
            rows = await conn.fetch(
                "SELECT kind, value, customer_id FROM identity.customer_identifiers"
                " WHERE (kind, value) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                [i.kind for i in identifiers], [i.value for i in identifiers],
            )
            owners = {Identifier(r["kind"], r["value"]): r["customer_id"] for r in rows}
            plan = resolver.plan_resolution(identifiers, owners, channel)
            if plan.customer_id is None:
                customer_id = uuid.uuid4()
                customer, linked = await _insert_customer(conn, customer_id, plan.link, channel, name)
                if None in linked:
                    raise _LostRace
                return customer, True, linked
            customer_id = plan.customer_id
            # Serialises against a merge or an erasure of this customer (FOR UPDATE).
            row = await conn.fetchrow(
                "SELECT merged_into, erase_time FROM identity.customers WHERE customer_id = $1"
                " FOR NO KEY UPDATE", customer_id,
            )
            if row["merged_into"] is not None or row["erase_time"] is not None:
                # Merged since we looked (its identifiers moved too), or erased (they are
                # gone): look again, so nothing new is attached to an erased customer.
                raise _LostRace
            linked = [await _insert_identifier(conn, customer_id, i, channel) for i in plan.link]
            if None in linked:
                raise _LostRace
            named = bool(name) and not claimed
            if named:
                await _saw_name(conn, customer_id, channel, name)
            if linked or named:
                await _touch(conn, customer_id)
            return await _load(conn, customer_id), False, linked

        return await self._retrying(work)

    # --- LinkIdentifier ------------------------------------------------------------------

    async def link(
        self, customer_id: uuid.UUID, identifier: Identifier, channel: str | None
    ) -> tuple[Customer, bool]:
        async def work(conn: asyncpg.Connection):
            await conn.execute(
                "SELECT 1 FROM identity.customers WHERE customer_id = $1 FOR NO KEY UPDATE",
                customer_id,
            )
            resolver.check_linkable(await _load(conn, customer_id), customer_id)
            if await _insert_identifier(conn, customer_id, identifier, channel) is not None:
                await _touch(conn, customer_id)
                return await _load(conn, customer_id), False
            owner = await conn.fetchval(
                "SELECT customer_id FROM identity.customer_identifiers WHERE kind = $1 AND value = $2",
                identifier.kind, identifier.value,
            )
            if owner is None:
                raise _LostRace
            already = resolver.check_link_owner(identifier, owner, customer_id)
            return await _load(conn, customer_id), already

        return await self._retrying(work)

    # --- MergeCustomers ------------------------------------------------------------------

    async def merge(
        self, source_id: uuid.UUID, target_id: uuid.UUID, requested_by: str, reason: str
    ) -> tuple[Merge, bool]:
        """Re-points identifiers, copies names, marks the source merged and records it all.
        Returns the merge and whether it had already been done (a retry)."""

        async def work(conn: asyncpg.Connection):
            return await _merge_in(conn, source_id, target_id, requested_by, reason)

        return await self._retrying(work)

    async def add_moved_conversations(self, merge_id: uuid.UUID, conversations: int, messages: int) -> Merge:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE identity.customer_merges SET conversations_moved = conversations_moved + $2,"
                " messages_moved = messages_moved + $3 WHERE merge_id = $1 RETURNING *",
                merge_id, conversations, messages,
            )
        return _merge(row)

    # --- StartLink / ConfirmLink ---------------------------------------------------------

    async def start_link(
        self, customer_id: uuid.UUID, new: Link, now: datetime, per_hour: int
    ) -> tuple[Link | None, bool, bool]:
        """Stores `new` as the customer's one pending link, replacing any older one. Returns
        (the link stored or found, None when nothing was; whether the address is already the
        customer's; whether too many codes went out in the last hour, to this customer or to
        this address). A retry with the same request key finds its pending link (not `new`),
        and no second code goes out."""

        async def work(conn: asyncpg.Connection):
            await conn.execute(
                "SELECT 1 FROM identity.customers WHERE customer_id = $1 FOR NO KEY UPDATE",
                customer_id,
            )
            resolver.check_linkable(await _load(conn, customer_id), customer_id)
            owner = await _owner(conn, new.claimed)
            if owner == customer_id:
                return None, True, False
            current = await conn.fetchrow(
                "SELECT * FROM identity.identity_links WHERE customer_id = $1 AND status = $2"
                " FOR UPDATE", customer_id, linking.PENDING,
            )
            if current is not None and linking.reusable(_link(current), new.claimed, new.request_key, now):
                return _link(current), False, False
            recent = await conn.fetchval(
                "SELECT count(*) FROM identity.identity_links WHERE (customer_id = $1"
                " OR (claimed_kind = $2 AND claimed_value = $3)) AND create_time > $4",
                customer_id, new.claimed.kind, new.claimed.value, now - timedelta(hours=1),
            )
            if recent >= per_hour:
                return None, False, True
            await conn.execute(
                "UPDATE identity.identity_links SET status = $2, finish_time = $3"
                " WHERE customer_id = $1 AND status = 'pending'", customer_id, linking.REPLACED, now,
            )
            await conn.execute(
                "INSERT INTO identity.identity_links (link_id, customer_id, first_channel,"
                " claimed_kind, claimed_value, code_hash, attempts_left, expire_time, status,"
                " request_key, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                new.link_id, customer_id, new.first_channel, new.claimed.kind, new.claimed.value,
                new.code_hash, new.attempts_left, new.expire_time, new.status, new.request_key, now,
            )
            return new, False, False

        return await self._retrying(work)

    async def link_audited(self, link_id: uuid.UUID, audit_event_id: str) -> None:
        """The confirmation is finished: a right code again is USED from now on."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE identity.identity_links SET audit_event_id = $2 WHERE link_id = $1",
                link_id, audit_event_id,
            )

    async def cancel_link(self, link_id: uuid.UUID, now: datetime) -> None:
        """A code that could not be delivered: its link must not be found by a retry."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE identity.identity_links SET status = $2, finish_time = $3"
                " WHERE link_id = $1 AND status = 'pending'", link_id, linking.REPLACED, now,
            )

    async def confirm_link(
        self,
        customer_id: uuid.UUID,
        channel: str,
        matches: Callable[[str], Awaitable[bool]],
        now: datetime,
    ) -> LinkResult:
        """Checks a code against the customer's latest link, all in one transaction: the link
        row is locked (concurrent tries count one by one), and a right code's link or merge
        commits together with the link marked confirmed, so a code never works twice and never
        confirms without its merge."""

        async def work(conn: asyncpg.Connection):
            await conn.execute(
                "SELECT 1 FROM identity.customers WHERE customer_id = $1 FOR NO KEY UPDATE",
                customer_id,
            )
            resolver.check_linkable(await _load(conn, customer_id), customer_id)
            row = await conn.fetchrow(
                "SELECT * FROM identity.identity_links WHERE customer_id = $1"
                " ORDER BY create_time DESC LIMIT 1 FOR UPDATE", customer_id,
            )
            link = None if row is None else _link(row)
            checkable = (link is not None and link.first_channel == channel
                         and link.status in (linking.PENDING, linking.CONFIRMED))
            right = checkable and await matches(link.code_hash)
            decision = linking.decide(link, channel, right, now)
            outcome, merge_id, new_merge, source = decision.outcome, None, False, None
            if outcome == linking.RIGHT_CODE:
                owner = await _owner(conn, link.claimed)
                if owner is None:
                    if await _insert_identifier(conn, customer_id, link.claimed, channel) is None:
                        raise _LostRace
                    await _touch(conn, customer_id)
                    outcome = linking.LINKED
                elif owner == customer_id:
                    outcome = linking.ALREADY_LINKED
                else:
                    # The owner of the claimed address is merged into the sender (see README).
                    merge, _ = await _merge_in(
                        conn, owner, customer_id, f"customer:{customer_id}",
                        f"verified link {link.link_id}: one-time code sent to the claimed "
                        f"{link.claimed.kind} and returned on {channel}",
                    )
                    outcome, merge_id, new_merge, source = linking.MERGED, merge.merge_id, True, owner
            elif (again := linking.unfinished(link, outcome, right)) is not None:
                outcome, merge_id = again, link.merge_id
                if merge_id is not None:
                    source = await conn.fetchval(
                        "SELECT source_customer_id FROM identity.customer_merges WHERE merge_id = $1",
                        merge_id,
                    )
            if decision.link is not None:
                done = decision.link.status != linking.PENDING
                await conn.execute(
                    "UPDATE identity.identity_links SET status = $2, attempts_left = $3,"
                    " finish_time = $4, merge_id = $5, audit_event_id = $6 WHERE link_id = $1",
                    link.link_id, decision.link.status,
                    0 if done else decision.link.attempts_left,
                    now if done else None, merge_id,
                    # Nothing to audit: no address moved.
                    "" if outcome == linking.ALREADY_LINKED else None,
                )
            return LinkResult(
                outcome=outcome,
                link=decision.link or link,
                customer=await _load(conn, customer_id),
                merge_id=merge_id,
                merge_source=source,
                new_merge=new_merge,
            )

        return await self._retrying(work)

    # --- EraseCustomer -------------------------------------------------------------------

    async def erase(self, customer_id: uuid.UUID, requested_by: str) -> Erasure:
        """Deletes the addresses and names of the customer and of everyone merged into it,
        tombstones what the merge records say moved, and marks them erased. Once committed no
        address leads to them any more (a new message from one creates a new customer), so
        nothing new lands on them while the other services erase. A repeat changes nothing."""

        async def work(conn: asyncpg.Connection):
            await conn.execute(
                "SELECT 1 FROM identity.customers WHERE customer_id = $1 FOR UPDATE", customer_id
            )
            resolver.check_erasable(await _load(conn, customer_id), customer_id)
            ids = await conn.fetchval(
                """
                WITH RECURSIVE merged(customer_id, depth) AS (
                    SELECT $1::uuid, 0
                    UNION
                    SELECT m.source_customer_id, d.depth + 1
                      FROM merged d
                      JOIN identity.customer_merges m ON m.target_customer_id = d.customer_id
                     WHERE d.depth < 50)
                SELECT array_agg(customer_id ORDER BY depth, customer_id) FROM merged
                """,
                customer_id,
            )
            # Same lock order as merges (by id), so an erasure and a merge cannot deadlock.
            await conn.execute(
                "SELECT 1 FROM identity.customers WHERE customer_id = ANY($1::uuid[])"
                " ORDER BY customer_id FOR UPDATE", ids,
            )
            # Link requests hold claimed addresses: those of the erased and those naming theirs.
            await conn.execute(
                "DELETE FROM identity.identity_links WHERE customer_id = ANY($1::uuid[])"
                " OR (claimed_kind, claimed_value) IN (SELECT kind, value FROM"
                " identity.customer_identifiers WHERE customer_id = ANY($1::uuid[]))", ids
            )
            identifiers = await conn.execute(
                "DELETE FROM identity.customer_identifiers WHERE customer_id = ANY($1::uuid[])", ids
            )
            names = await conn.execute(
                "DELETE FROM identity.customer_names WHERE customer_id = ANY($1::uuid[])", ids
            )
            # The merge record keeps its shape (how many identifiers and names moved, who
            # merged, when); the addresses, names and free-text reason in it are replaced.
            merges = await conn.execute(
                """
                UPDATE identity.customer_merges SET
                    identifiers_moved = (SELECT coalesce(jsonb_agg(e || jsonb_build_object('value', $2::text)), '[]')
                                           FROM jsonb_array_elements(identifiers_moved) e),
                    names_copied = (SELECT coalesce(jsonb_agg(e || jsonb_build_object('name', $2::text)), '[]')
                                      FROM jsonb_array_elements(names_copied) e),
                    reason = CASE WHEN reason = '' THEN '' ELSE $2 END
                 WHERE (source_customer_id = ANY($1::uuid[]) OR target_customer_id = ANY($1::uuid[]))
                   AND (reason NOT IN ('', $2)
                        OR jsonb_path_exists(identifiers_moved, '$[*] ? (@.value != $t)', jsonb_build_object('t', $2::text))
                        OR jsonb_path_exists(names_copied, '$[*] ? (@.name != $t)', jsonb_build_object('t', $2::text)))
                """,
                ids, TOMBSTONE,
            )
            marked = await conn.execute(
                "UPDATE identity.customers SET erase_time = now(), erased_by = $2, update_time = now()"
                " WHERE customer_id = ANY($1::uuid[]) AND erase_time IS NULL", ids, requested_by,
            )
            erase_time = await conn.fetchval(
                "SELECT erase_time FROM identity.customers WHERE customer_id = $1", customer_id
            )
            counts = [_count(tag) for tag in (identifiers, names, merges, marked)]
            return Erasure(
                customer_ids=list(ids),
                erase_time=erase_time,
                identifiers_erased=counts[0],
                names_erased=counts[1],
                changed=any(counts),
            )

        return await self._retrying(work)


async def _merge_in(
    conn: asyncpg.Connection, source_id: uuid.UUID, target_id: uuid.UUID, requested_by: str, reason: str
) -> tuple[Merge, bool]:
    """The merge inside the caller's transaction (MergeCustomers, and a confirmed link)."""
    # Both rows locked, in a fixed order, against concurrent merges and resolves.
    await conn.execute(
        "SELECT 1 FROM identity.customers WHERE customer_id = ANY($1::uuid[])"
        " ORDER BY customer_id FOR UPDATE", [source_id, target_id],
    )
    source = await _load(conn, source_id)
    target = await _load(conn, target_id)
    if resolver.check_merge(source, target, source_id, target_id):
        row = await conn.fetchrow(
            "SELECT * FROM identity.customer_merges WHERE source_customer_id = $1", source_id
        )
        return _merge(row), True
    moved = await conn.fetch(
        "UPDATE identity.customer_identifiers SET customer_id = $2 WHERE customer_id = $1"
        " RETURNING kind, value", source_id, target_id,
    )
    copied = await conn.fetch(
        "INSERT INTO identity.customer_names"
        "  (customer_id, channel, name, first_seen_time, last_seen_time)"
        " SELECT $2, channel, name, first_seen_time, last_seen_time"
        "   FROM identity.customer_names WHERE customer_id = $1"
        " ON CONFLICT (customer_id, channel, name) DO UPDATE SET"
        "   first_seen_time = LEAST(customer_names.first_seen_time, EXCLUDED.first_seen_time),"
        "   last_seen_time = GREATEST(customer_names.last_seen_time, EXCLUDED.last_seen_time)"
        " RETURNING channel, name", source_id, target_id,
    )
    await conn.execute(
        "UPDATE identity.customers SET merged_into = $2, update_time = now()"
        " WHERE customer_id = $1", source_id, target_id,
    )
    await _touch(conn, target_id)
    row = await conn.fetchrow(
        "INSERT INTO identity.customer_merges (merge_id, source_customer_id,"
        "  target_customer_id, requested_by, reason, identifiers_moved, names_copied)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) RETURNING *",
        uuid.uuid4(), source_id, target_id, requested_by, reason,
        json.dumps([dict(r) for r in moved]), json.dumps([dict(r) for r in copied]),
    )
    return _merge(row), False


def _count(status: str) -> int:
    """Rows touched, from asyncpg's command tag (`DELETE 3`, `UPDATE 1`)."""
    return int(status.rsplit(" ", 1)[-1])


def _snapshot(conn: asyncpg.Connection):
    return conn.transaction(isolation="repeatable_read", readonly=True)


async def _insert_customer(
    conn: asyncpg.Connection, customer_id: uuid.UUID, identifiers: list[Identifier],
    channel: str, name: str,
) -> tuple[Customer, list[StoredIdentifier | None]]:
    """A new customer with its identifiers and the name it wrote under, in one statement
    (foreign keys are checked at its end) that also answers the customer as `_load` would.
    Per identifier, in order: what was stored, or None when (kind, value) was taken
    meanwhile, as `_insert_identifier` answers."""
    row = await conn.fetchrow(
        "WITH c AS (INSERT INTO identity.customers (customer_id) VALUES ($1)"
        "  RETURNING customer_id, merged_into, create_time, update_time),"
        " n AS (INSERT INTO identity.customer_names (customer_id, channel, name)"
        "  SELECT $1, $4, $5 WHERE $5 <> '' RETURNING channel, name, last_seen_time),"
        " i AS (INSERT INTO identity.customer_identifiers (kind, value, customer_id,"
        "  first_seen_channel) SELECT kind, value, $1, $4"
        "  FROM unnest($2::text[], $3::text[]) AS u(kind, value)"
        "  ON CONFLICT (kind, value) DO NOTHING"
        "  RETURNING kind, value, first_seen_channel, create_time)"
        " SELECT c.*, NULL::timestamptz AS erase_time,"
        f" ARRAY(SELECT (i.kind, i.value, i.first_seen_channel, i.create_time) FROM i"
        f"  ORDER BY {_IDENTIFIER_ORDER}) AS identifiers,"
        " ARRAY(SELECT (n.channel, n.name, n.last_seen_time) FROM n) AS names FROM c",
        customer_id, [i.kind for i in identifiers], [i.value for i in identifiers], channel, name,
    )
    customer = _customer(row)
    stored = {(s.kind, s.value): s for s in customer.identifiers}
    return customer, [stored.get((i.kind, i.value)) for i in identifiers]


async def _insert_identifier(
    conn: asyncpg.Connection, customer_id: uuid.UUID, identifier: Identifier, channel: str | None
) -> StoredIdentifier | None:
    """The upsert: None when (kind, value) already belongs to someone (possibly this customer)."""
    row = await conn.fetchrow(
        "INSERT INTO identity.customer_identifiers (kind, value, customer_id, first_seen_channel)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING"
        " RETURNING kind, value, first_seen_channel, create_time",
        identifier.kind, identifier.value, customer_id, channel,
    )
    return None if row is None else StoredIdentifier(**dict(row))


async def _saw_name(conn: asyncpg.Connection, customer_id: uuid.UUID, channel: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO identity.customer_names (customer_id, channel, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (customer_id, channel, name) DO UPDATE SET last_seen_time = now()",
        customer_id, channel, name,
    )


async def _touch(conn: asyncpg.Connection, customer_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE identity.customers SET update_time = now() WHERE customer_id = $1", customer_id
    )


async def _load(conn: asyncpg.Connection, customer_id: uuid.UUID) -> Customer | None:
    """The customer with its identifiers and names, in one round trip (rows of each as arrays
    of records)."""
    row = await conn.fetchrow(
        "SELECT c.customer_id, c.merged_into, c.create_time, c.update_time, c.erase_time,"
        " ARRAY(SELECT (i.kind, i.value, i.first_seen_channel, i.create_time)"
        "  FROM identity.customer_identifiers i WHERE i.customer_id = c.customer_id"
        f"  ORDER BY {_IDENTIFIER_ORDER}) AS identifiers,"
        " ARRAY(SELECT (n.channel, n.name, n.last_seen_time)"
        "  FROM identity.customer_names n WHERE n.customer_id = c.customer_id"
        "  ORDER BY n.last_seen_time DESC, n.channel, n.name) AS names"
        " FROM identity.customers c WHERE c.customer_id = $1", customer_id,
    )
    return None if row is None else _customer(row)


def _customer(row: asyncpg.Record) -> Customer:
    fields = dict(row)
    return Customer(
        **fields | {
            "identifiers": [StoredIdentifier(*r) for r in fields["identifiers"]],
            "names": [Name(*r) for r in fields["names"]],
        }
    )


async def _owner(conn: asyncpg.Connection, identifier: Identifier) -> uuid.UUID | None:
    return await conn.fetchval(
        "SELECT customer_id FROM identity.customer_identifiers WHERE kind = $1 AND value = $2",
        identifier.kind, identifier.value,
    )


def _link(row: asyncpg.Record) -> Link:
    return Link(
        link_id=row["link_id"],
        customer_id=row["customer_id"],
        first_channel=row["first_channel"],
        claimed=Identifier(row["claimed_kind"], row["claimed_value"]),
        code_hash=row["code_hash"],
        attempts_left=row["attempts_left"],
        expire_time=row["expire_time"],
        status=row["status"],
        request_key=row["request_key"],
        merge_id=row["merge_id"],
        audit_event_id=row["audit_event_id"],
    )


def _merge(row: asyncpg.Record) -> Merge:
    return Merge(
        merge_id=row["merge_id"],
        source_customer_id=row["source_customer_id"],
        target_customer_id=row["target_customer_id"],
        identifiers_moved=len(json.loads(row["identifiers_moved"])),
        conversations_moved=row["conversations_moved"],
    )
