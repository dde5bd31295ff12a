"""Versioned SQL migrations, one folder per owning service: `schema/<service>/NNN_name.sql`.

Each service gets a schema and a login role `fte_<service>` that owns it. Migrations run as
that role (`SET ROLE`), so the service owns its tables without further grants, while the other
services' roles cannot even look into the schema. Applied files are recorded with a checksum
in `public.schema_migrations` and are immutable from then on.

Run: `python -m devstack.migrate` (admin DSN from DATABASE_URL, else the embedded server).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg

from devstack import REPO_ROOT

log = logging.getLogger(__name__)

SERVICES = ("identity", "conversation", "knowledge", "access", "notifier", "edge")
SCHEMA_DIR = REPO_ROOT / "schema"

_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")
# One database-wide key, so concurrent runners (two `make run`, a deploy job) serialise.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"fte.schema_migrations").digest()[:8], "big", signed=True)


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    service: str
    version: int
    name: str
    path: Path
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        # Line endings are normalised so a Windows checkout does not look like an edit.
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode()).hexdigest()


def role_name(service: str) -> str:
    return f"fte_{service}"


def role_password(service: str, env: Mapping[str, str] = os.environ) -> str:
    """`FTE_<SERVICE>_DB_PASSWORD`; the default only suits the embedded local stack."""
    return env.get(f"FTE_{service.upper()}_DB_PASSWORD", f"fte_{service}_local")


def service_dsn(admin_dsn: str, service: str) -> str:
    """The admin DSN with the credentials swapped for the service's own role."""
    parts = urlsplit(admin_dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected a postgresql:// URL")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(role_name(service), safe='')}:{quote(role_password(service), safe='')}@{host}"
    # Credentials given as query parameters would override the ones in the netloc.
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def discover(service: str, schema_dir: Path = SCHEMA_DIR) -> list[Migration]:
    folder = schema_dir / service
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNN_lower_snake_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"{path}: version {version} also used by {migrations[version].path.name}")
        migrations[version] = Migration(service, version, match["name"], path, path.read_text(encoding="utf-8"))
    return [migrations[v] for v in sorted(migrations)]


def _scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here (as psql's \\password does)
    so the plain password never reaches the server, where a failed statement could log it."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def _sql(conn: asyncpg.Connection, template: str, *args: str) -> str:
    """Server-side format(): quotes identifiers (%I) and literals (%L) exactly as Postgres does."""
    placeholders = "".join(f", ${i}::text" for i in range(2, len(args) + 2))
    return await conn.fetchval(f"SELECT format($1::text{placeholders})", template, *args)


async def _prepare_database(conn: asyncpg.Connection, services: Iterable[str]) -> None:
    db = await conn.fetchval("SELECT current_database()")
    async with conn.transaction():
        # As admin: pgvector is not a trusted extension, so a service role cannot create it.
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
        await conn.execute("""
            CREATE TABLE IF NOT EXISTS public.schema_migrations (
                service    text        NOT NULL,
                version    int         NOT NULL,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (service, version)
            )""")
        # Default since PG 15, but an external server may be older or have been changed.
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        # Only the service roles (granted below) may connect, and none may create temp tables.
        await conn.execute(await _sql(conn, "REVOKE ALL ON DATABASE %I FROM PUBLIC", db))
        is_superuser = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")

    for service in services:
        role = role_name(service)
        async with conn.transaction():
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            # CREATE ROLE defaults to no superuser/createdb/createrole/replication rights.
            await conn.execute(await _sql(
                conn, f"{'ALTER' if exists else 'CREATE'} ROLE %I WITH LOGIN PASSWORD %L",
                role, _scram_verifier(role_password(service)),
            ))
            if not is_superuser:  # a managed-service admin needs membership to SET ROLE
                await conn.execute(await _sql(conn, "GRANT %I TO CURRENT_USER", role))
            await conn.execute(await _sql(conn, "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I",
                                          service, role))
            await conn.execute(await _sql(conn, "ALTER SCHEMA %I OWNER TO %I", service, role))
            await conn.execute(await _sql(conn, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", service))
            await conn.execute(await _sql(conn, "GRANT CONNECT ON DATABASE %I TO %I", db, role))
            await conn.execute(await _sql(conn, "ALTER ROLE %I SET search_path = %I, public",
                                          role, service))


async def _unapplied(conn: asyncpg.Connection, service: str,
                     migrations: list[Migration]) -> list[Migration]:
    """The migrations not recorded yet; an applied one whose file has changed is an error."""
    recorded = {
        row["version"]: row
        for row in await conn.fetch(
            "SELECT version, name, checksum FROM public.schema_migrations WHERE service = $1", service)
    }
    for version in sorted(set(recorded) - {m.version for m in migrations}):
        log.warning("%s migration %03d_%s is recorded as applied but its file is gone",
                    service, version, recorded[version]["name"])
    for m in migrations:
        if m.version in recorded and recorded[m.version]["checksum"] != m.checksum:
            raise MigrationError(
                f"{m.path} changed after it was applied (recorded sha256 "
                f"{recorded[m.version]['checksum'][:12]}…, file now {m.checksum[:12]}…). "
                "Applied migrations are immutable: revert the edit and add a new migration."
            )
    return [m for m in migrations if m.version not in recorded]


async def _apply(conn: asyncpg.Connection, m: Migration) -> None:
    """One migration, as its service's role, recorded in the same transaction."""
    try:
        async with conn.transaction():
            await conn.execute(await _sql(conn, "SET LOCAL ROLE %I", role_name(m.service)))
            await conn.execute(await _sql(conn, "SET LOCAL search_path = %I, public", m.service))
            await conn.execute(m.sql)
            await conn.execute("RESET ROLE")  # the bookkeeping table is admin-only
            await conn.execute(
                "INSERT INTO public.schema_migrations (service, version, name, checksum) "
                "VALUES ($1, $2, $3, $4)", m.service, m.version, m.name, m.checksum)
    except asyncpg.PostgresError as e:
        raise MigrationError(f"{m.path} failed: {type(e).__name__}: {e}") from e
    log.info("applied %s/%s", m.service, m.path.name)


async def migrate(admin_dsn: str, *, schema_dir: Path = SCHEMA_DIR,
                  services: Iterable[str] = SERVICES) -> list[Migration]:
    """Prepare roles and schemas, then apply pending migrations; returns those applied now."""
    services = tuple(services)
    on_disk = {s: discover(s, schema_dir) for s in services}  # bad file names fail before any DDL
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await _prepare_database(conn, services)
        # Every service's history is verified before the first migration runs.
        todo = [m for s in services for m in await _unapplied(conn, s, on_disk[s])]
        for m in todo:
            await _apply(conn, m)
        return todo
    finally:
        await conn.close()  # also releases the session-level advisory lock


def main() -> int:
    from devstack.postgres import PostgresConfig

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    admin_dsn = os.environ.get("DATABASE_URL") or PostgresConfig.from_env().admin_dsn
    try:
        applied = asyncio.run(migrate(admin_dsn))
    except MigrationError as e:
        print(f"migration failed: {e}", file=sys.stderr)
        return 1
    print(f"{len(applied)} migration(s) applied" if applied else "schema up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
