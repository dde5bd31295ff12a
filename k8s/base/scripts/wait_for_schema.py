"""Waits until the migrate Job has made this service's schema: exits 0 once DATABASE_URL's role
can log in and schema SCHEMA holds a table. Before the migration the role does not exist (the
login fails) or its schema is empty. Mounted from the ConfigMap flowboard-scripts.

Never prints the URL or an error's text (either may hold the password): only the error's type.
"""

import asyncio
import os
import sys
import time

import asyncpg

SCHEMA = os.environ["SCHEMA"]
TIMEOUT_S = float(os.environ.get("WAIT_FOR_SCHEMA_TIMEOUT_S", "900"))


async def missing() -> str:
    """Why the schema is not ready yet, or "" when it is."""
    try:
        conn = await asyncpg.connect(os.environ["DATABASE_URL"], timeout=5)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as e:
        return f"cannot log in yet ({type(e).__name__})"
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1", SCHEMA)
        return "" if tables else f"schema {SCHEMA} has no tables yet"
    finally:
        await conn.close()


def main() -> int:
    deadline = time.monotonic() + TIMEOUT_S
    while why := asyncio.run(missing()):
        if time.monotonic() > deadline:
            print(f"gave up after {TIMEOUT_S:.0f}s: {why}; did the migrate Job run?", file=sys.stderr)
            return 1
        print(f"waiting for the migrate Job: {why}", flush=True)
        time.sleep(5)
    print(f"schema {SCHEMA} is ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
