"""SQL for schema `identity`, nothing else. Decisions come from `resolver`; this module only
reads, locks and writes, and retries a transaction that lost a race."""

from __future__ import annotations

import json
import uuid

import asyncpg

from services.common.retry import in_transaction, is_database_conflict
from services.identity import resolver
from services.identity.resolver import Customer, Identifier, Merge, Name, StoredIdentifier

# A lost race costs one retry; more than a handful means something is badly wrong.
_ATTEMPTS = 8


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

    # A customer is read with several queries: one snapshot keeps them consistent.

    async def get(self, customer_id: uuid.UUID) -> Customer | None:
        async with self._pool.acquire() as conn, _snapshot(conn):
            return await _load(conn, customer_id)

    async def find(self, identifier: Identifier) -> Customer | None:
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
            created = plan.customer_id is None
            if created:
                customer_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO identity.customers (customer_id) VALUES ($1)", customer_id
                )
            else:
                customer_id = plan.customer_id
                # Serialises against a merge of this customer (which takes FOR UPDATE).
                merged_into = await conn.fetchval(
                    "SELECT merged_into FROM identity.customers WHERE customer_id = $1"
                    " FOR NO KEY UPDATE", customer_id,
                )
                if merged_into is not None:
                    raise _LostRace  # merged since we looked: its identifiers moved too
            linked = [await _insert_identifier(conn, customer_id, i, channel) for i in plan.link]
            if None in linked:
                raise _LostRace
            named = bool(name) and (created or not claimed)
            if named:
                await _saw_name(conn, customer_id, channel, name)
            if not created and (linked or named):
                await _touch(conn, customer_id)
            return await _load(conn, customer_id), created, linked

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

        return await self._retrying(work)

    async def add_moved_conversations(self, merge_id: uuid.UUID, conversations: int, messages: int) -> Merge:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE identity.customer_merges SET conversations_moved = conversations_moved + $2,"
                " messages_moved = messages_moved + $3 WHERE merge_id = $1 RETURNING *",
                merge_id, conversations, messages,
            )
        return _merge(row)


def _snapshot(conn: asyncpg.Connection):
    return conn.transaction(isolation="repeatable_read", readonly=True)


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
    row = await conn.fetchrow(
        "SELECT customer_id, merged_into, create_time, update_time FROM identity.customers"
        " WHERE customer_id = $1", customer_id,
    )
    if row is None:
        return None
    identifiers = await conn.fetch(
        "SELECT kind, value, first_seen_channel, create_time FROM identity.customer_identifiers"
        " WHERE customer_id = $1 ORDER BY create_time, kind, value", customer_id,
    )
    names = await conn.fetch(
        "SELECT channel, name, last_seen_time FROM identity.customer_names WHERE customer_id = $1"
        " ORDER BY last_seen_time DESC, channel, name", customer_id,
    )
    return Customer(
        **dict(row),
        identifiers=[StoredIdentifier(**dict(r)) for r in identifiers],
        names=[Name(**dict(r)) for r in names],
    )


def _merge(row: asyncpg.Record) -> Merge:
    return Merge(
        merge_id=row["merge_id"],
        source_customer_id=row["source_customer_id"],
        target_customer_id=row["target_customer_id"],
        identifiers_moved=len(json.loads(row["identifiers_moved"])),
        conversations_moved=row["conversations_moved"],
    )
