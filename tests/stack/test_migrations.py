"""The migration runner against the real (test) PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from devstack import migrate


async def _recorded(dsn: str) -> list[tuple[str, int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT service, version, checksum FROM public.schema_migrations ORDER BY 1, 2")
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


def _write(schema_dir: Path, service: str, file_name: str, sql: str) -> Path:
    path = schema_dir / service / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return path


async def test_first_run_applies_every_migration_and_second_run_applies_nothing(fresh_db: str) -> None:
    on_disk = [m for s in migrate.SERVICES for m in migrate.discover(s)]
    assert on_disk, "the repository has no migrations to apply"

    first = await migrate.migrate(fresh_db)
    recorded_after_first = await _recorded(fresh_db)
    second = await migrate.migrate(fresh_db)

    assert [(m.service, m.version) for m in first] == [(m.service, m.version) for m in on_disk]
    assert recorded_after_first == sorted((m.service, m.version, m.checksum) for m in on_disk)
    assert second == []
    assert await _recorded(fresh_db) == recorded_after_first


async def test_concurrent_runners_apply_each_migration_once(fresh_db: str) -> None:
    results = await asyncio.gather(*(migrate.migrate(fresh_db) for _ in range(3)))

    applied = sorted((m.service, m.version) for run in results for m in run)
    on_disk = sorted((m.service, m.version) for s in migrate.SERVICES for m in migrate.discover(s))
    assert applied == on_disk


async def test_migrations_apply_in_numeric_version_order(fresh_db: str, tmp_path: Path) -> None:
    # 0010 sorts before 009 as text; it depends on 009's table, so only numeric order works.
    _write(tmp_path, "identity", "009_create.sql", "CREATE TABLE identity.t (id int);")
    _write(tmp_path, "identity", "0010_alter.sql", "ALTER TABLE identity.t ADD COLUMN name text;")

    applied = await migrate.migrate(fresh_db, schema_dir=tmp_path, services=["identity"])

    assert [m.version for m in applied] == [9, 10]


async def test_edited_applied_migration_is_rejected_with_a_clear_message(
        fresh_db: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "identity", "001_init.sql", "CREATE TABLE identity.t (id int);")
    await migrate.migrate(fresh_db, schema_dir=tmp_path, services=["identity"])
    path.write_text("CREATE TABLE identity.t (id bigint);")

    with pytest.raises(migrate.MigrationError, match=r"001_init\.sql changed after it was applied"):
        await migrate.migrate(fresh_db, schema_dir=tmp_path, services=["identity"])


async def test_failing_migration_is_rolled_back_and_not_recorded(fresh_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "identity", "001_ok.sql", "CREATE TABLE identity.ok (id int);")
    _write(tmp_path, "identity", "002_broken.sql",
           "CREATE TABLE identity.half (id int);\nSELECT * FROM identity.no_such_table;")

    with pytest.raises(migrate.MigrationError, match=r"002_broken\.sql failed.*no_such_table"):
        await migrate.migrate(fresh_db, schema_dir=tmp_path, services=["identity"])

    conn = await asyncpg.connect(fresh_db)
    try:
        tables = {r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'identity'")}
    finally:
        await conn.close()
    assert tables == {"ok"}
    assert [(s, v) for s, v, _ in await _recorded(fresh_db)] == [("identity", 1)]


def test_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "identity", "1-init.sql", "SELECT 1;")

    with pytest.raises(migrate.MigrationError, match="NNN_lower_snake_name.sql"):
        migrate.discover("identity", tmp_path)


async def test_knowledge_schema_can_store_and_compare_vectors(stack) -> None:
    conn = await asyncpg.connect(migrate.service_dsn(stack.admin_dsn, "knowledge"))
    try:
        distance = await conn.fetchval("SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector")
    finally:
        await conn.close()
    assert distance == pytest.approx(2.0)
