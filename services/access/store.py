"""SQL for schema `access` only: API key rows (hashes, never secrets) and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

_KEY_COLUMNS = "key_id, name, role, create_time, revoke_time, last_used_time"


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    name: str
    role: str
    create_time: datetime
    revoke_time: datetime | None
    last_used_time: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    event_id: int
    event_time: datetime
    subject: str
    role: str
    method: str
    target_ids: list[str]
    outcome: str
    detail: str


def _key(row: asyncpg.Record) -> StoredKey:
    return StoredKey(**{k: row[k] for k in StoredKey.__dataclass_fields__})


def _event(row: asyncpg.Record) -> AuditEvent:
    return AuditEvent(**{k: row[k] for k in AuditEvent.__dataclass_fields__})


class AccessStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_key(self, key_id: str, name: str, role: str, secret_hash: str) -> StoredKey:
        row = await self._pool.fetchrow(
            f"INSERT INTO access.api_keys (key_id, name, role, secret_hash) VALUES ($1, $2, $3, $4) "
            f"RETURNING {_KEY_COLUMNS}", key_id, name, role, secret_hash)
        return _key(row)

    async def list_keys(self, include_revoked: bool) -> list[StoredKey]:
        rows = await self._pool.fetch(
            f"SELECT {_KEY_COLUMNS} FROM access.api_keys "
            "WHERE $1 OR revoke_time IS NULL ORDER BY create_time DESC, key_id", include_revoked)
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str) -> tuple[StoredKey, bool] | None:
        """(the key, whether it was already revoked), or None for an unknown key."""
        async with self._pool.acquire() as conn, conn.transaction():
            already = await conn.fetchval(
                "SELECT revoke_time IS NOT NULL FROM access.api_keys WHERE key_id = $1 FOR UPDATE", key_id)
            if already is None:
                return None
            row = await conn.fetchrow(
                f"UPDATE access.api_keys SET revoke_time = coalesce(revoke_time, now()) "
                f"WHERE key_id = $1 RETURNING {_KEY_COLUMNS}", key_id)
            return _key(row), already

    async def key_for_verification(self, key_id: str) -> tuple[StoredKey, str] | None:
        """A key that is not revoked, with its hash; None for an unknown or revoked key."""
        row = await self._pool.fetchrow(
            f"SELECT {_KEY_COLUMNS}, secret_hash FROM access.api_keys "
            "WHERE key_id = $1 AND revoke_time IS NULL", key_id)
        return (_key(row), row["secret_hash"]) if row else None

    async def mark_used(self, key_id: str) -> None:
        await self._pool.execute(
            "UPDATE access.api_keys SET last_used_time = now() WHERE key_id = $1", key_id)

    async def record_event(self, subject: str, role: str, method: str, target_ids: list[str],
                           outcome: str, detail: str) -> AuditEvent:
        row = await self._pool.fetchrow(
            "INSERT INTO access.audit_events (subject, role, method, target_ids, outcome, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            subject, role, method, target_ids, outcome, detail)
        return _event(row)

    async def list_events(self, limit: int, before_id: int | None, subject: str | None,
                          method: str | None) -> list[AuditEvent]:
        """Newest first; `before_id` is the page cursor (the last id of the previous page)."""
        rows = await self._pool.fetch(
            "SELECT * FROM access.audit_events "
            "WHERE ($1::bigint IS NULL OR event_id < $1) AND ($2::text IS NULL OR subject = $2) "
            "AND ($3::text IS NULL OR method = $3) ORDER BY event_id DESC LIMIT $4",
            before_id, subject, method, limit)
        return [_event(r) for r in rows]
