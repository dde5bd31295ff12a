"""Each service's database role reaches its own schema and nothing else."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import asyncpg
import pytest

from devstack import migrate
from devstack.stack import Endpoints


async def _tables(admin_dsn: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema)]
    finally:
        await conn.close()


@pytest.fixture
async def connect_as(stack: Endpoints) -> AsyncIterator:
    conns: list[asyncpg.Connection] = []

    async def connect(service: str) -> asyncpg.Connection:
        conns.append(await asyncpg.connect(migrate.service_dsn(stack.admin_dsn, service)))
        return conns[-1]

    yield connect
    for conn in conns:
        await conn.close()


@pytest.mark.parametrize("service", migrate.SERVICES)
async def test_service_role_owns_and_uses_its_own_schema(stack: Endpoints, connect_as, service: str) -> None:
    conn = await connect_as(service)
    owners = {r["tableowner"] for r in await conn.fetch(
        "SELECT tableowner FROM pg_tables WHERE schemaname = $1", service)}
    assert owners == {migrate.role_name(service)}
    for table in await _tables(stack.admin_dsn, service):
        await conn.fetch(f'SELECT * FROM "{service}"."{table}" LIMIT 1')
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("CREATE TABLE probe (n int)")  # unqualified: lands in its own schema
        await conn.execute("INSERT INTO probe VALUES (1)")
        assert await conn.fetchval(f'SELECT n FROM "{service}".probe') == 1
    finally:
        await transaction.rollback()  # leaves no trace in the database other tests share


@pytest.mark.parametrize(("service", "other"), list(itertools.permutations(migrate.SERVICES, 2)))
async def test_service_role_is_denied_another_services_tables(
        stack: Endpoints, connect_as, service: str, other: str) -> None:
    tables = await _tables(stack.admin_dsn, other)
    assert tables, f"schema {other} has no tables to probe"
    conn = await connect_as(service)

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"permission denied for schema {other}"):
        await conn.fetch(f'SELECT * FROM "{other}"."{tables[0]}"')


@pytest.mark.parametrize("service", migrate.SERVICES)
async def test_service_role_cannot_touch_public_schema_or_migration_history(
        connect_as, service: str) -> None:
    conn = await connect_as(service)

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.fetch("SELECT * FROM public.schema_migrations")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CREATE TABLE public.intruder (n int)")
