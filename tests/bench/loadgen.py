"""A lean HTTP/1.1 load generator: `python -m tests.bench.loadgen --url ... -n 2000 -c 32`.

It runs in its own process, so the server under test gets a core of its own instead of
sharing an event loop with the client. httpx costs ~0.5-1 ms of CPU per request; on a 2-core
box that would be the bottleneck, so this speaks HTTP/1.1 over raw keep-alive asyncio streams
(a few tens of µs per request) and precomputes every request before the clock starts.

Prints one JSON object: counts by status, wall time, requests/s, latency percentiles, and
the CPU this client used (to show how much of the box it took).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

from tests.bench.stats import percentile

FORM = {
    "name": "Bench Customer",
    "subject": "Password reset link never arrives",
    "category": "technical",
    "message": "Hello, I asked for a password reset twice today but the email never came. "
               "What should I do?",
}


def submit_bodies(n: int, tag: str) -> list[bytes]:
    """Valid form submissions, each from its own sender (the edge limits per sender)."""
    return [
        json.dumps({**FORM, "email": f"bench-{tag}-{i}@example.com"}).encode()
        for i in range(n)
    ]


def _request(host: str, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nbaggage: synthetic_request=true\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, whether the server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") != "close"


async def run(url: str, requests: list[bytes], concurrency: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    wire = [_request(f"{host}:{port}", parts.path or "/", body) for body in requests]
    queue = iter(wire)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()

    async def connection() -> None:
        reader = writer = None
        for req in queue:  # one shared iterator: each request is sent once, by some connection
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                writer.write(req)
                status, keep = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "requests": len(requests),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "wall_s": wall,
        "rps": len(latencies) / wall if wall else 0.0,
        "p50_s": percentile(latencies, 50),
        "p90_s": percentile(latencies, 90),
        "p99_s": percentile(latencies, 99),
        "max_s": max(latencies, default=float("nan")),
        "client_cpu_s": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8080/support/submit")
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first")
    parser.add_argument("--tag", default="run", help="makes sender addresses unique per run")
    args = parser.parse_args(argv)
    bodies = submit_bodies(args.warmup + args.requests, args.tag)
    if args.warmup:
        asyncio.run(run(args.url, bodies[: args.warmup], args.concurrency))
    result = asyncio.run(run(args.url, bodies[args.warmup :], args.concurrency))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
