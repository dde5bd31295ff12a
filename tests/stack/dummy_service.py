"""Stand-in application process for the `devstack run` tests.

Listens on GRPC_PORT and answers every connection with a JSON report of the environment it
was given and the database role its DATABASE_URL logs in as; exits cleanly on SIGTERM. While
the file `crash-<GRPC_PORT>` exists in FTE_DUMMY_CRASH_DIR, it exits with code 3 as it starts
(a process that keeps crashing).
"""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import asyncpg

REPORTED_ENV = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "RATE_LIMIT_STORAGE_URI", "GRPC_PORT", "ALPHA_ADDR",
                "BETA_ADDR", "OTEL_EXPORTER_OTLP_ENDPOINT")


async def main() -> None:
    if (Path(os.environ.get("FTE_DUMMY_CRASH_DIR", "/nonexistent")) / f"crash-{os.environ['GRPC_PORT']}").exists():
        print("crashing as asked", flush=True)
        sys.exit(3)
    report = {"pid": os.getpid(), "env": {name: os.environ.get(name) for name in REPORTED_ENV}}
    if os.environ.get("DATABASE_URL"):
        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        report["db_user"] = await conn.fetchval("SELECT current_user")
        await conn.close()

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(report).encode())
        await writer.drain()
        writer.close()

    port = int(os.environ["GRPC_PORT"])
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"listening on {port}", flush=True)
    await stop.wait()
    server.close()
    print("stopped on SIGTERM", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
