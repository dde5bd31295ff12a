"""What a pooled connection's release costs, with asyncpg's reset query (the edge's pool) and
without it (`open_pool(session_state=False)`, every other service's): CPU of this process and of
the PostgreSQL backend per acquire + `SELECT 1` + release, on a PostgreSQL of its own.

    .venv/bin/python -m tests.bench.pool_release [--uses 5000] [--rounds 3]

A reply releases a connection about eight times (conversation, identity, knowledge)."""

from __future__ import annotations

import argparse
import shutil
import time

import uvloop

from devstack import DEFAULT_DATA_ROOT, postgres
from services.common.db import open_pool
from tests.bench.stats import cpu_seconds
from tests.ports import free_port


async def _per_use_us(dsn: str, session_state: bool, uses: int) -> tuple[float, float]:
    pool = await open_pool(dsn, min_size=1, max_size=1, session_state=session_state)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        for _ in range(200):  # warm-up
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        backend, client = cpu_seconds(pid), time.process_time()
        for _ in range(uses):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return ((time.process_time() - client) / uses * 1e6, (cpu_seconds(pid) - backend) / uses * 1e6)
    finally:
        await pool.close()


async def main(uses: int, rounds: int) -> None:
    cfg = postgres.PostgresConfig(data_dir=DEFAULT_DATA_ROOT / "bench-pool-release", port=free_port())
    shutil.rmtree(cfg.data_dir, ignore_errors=True)
    print(f"starting PostgreSQL in {cfg.data_dir}", flush=True)
    await postgres.start(cfg)
    try:
        print("CPU per acquire + SELECT 1 + release (µs)   this process   PostgreSQL backend")
        for r in range(1, rounds + 1):
            for session_state in (True, False):
                client, backend = await _per_use_us(cfg.admin_dsn, session_state, uses)
                label = "reset query (edge)" if session_state else "no reset query (services)"
                print(f"  round {r}/{rounds}  {label:28s} {client:8.1f}     {backend:8.1f}", flush=True)
    finally:
        postgres.stop(cfg)
        shutil.rmtree(cfg.data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uses", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(main(args.uses, args.rounds))
