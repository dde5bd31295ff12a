"""Figure 1: POST /support/submit on the real edge against a no-op FastAPI app, and against
the same no-op with only the edge's server span (`noop_app.py --traced`): the floor that
tracing every request sets before the edge does any work of its own.

Both servers get the same load from the same client (tests/bench/loadgen.py, a separate
process), alternating, for a fixed number of requests. Besides requests/s and latency, the
CPU each server process (and the Kafka broker) burned per request is read from /proc: on a
shared 2-core box throughput swings with whatever else runs, CPU per request much less.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import REPO_ROOT
from tests.bench import profile
from tests.bench.stats import box_busy_seconds, cpu_seconds, fmt, ms, progress
from tests.e2e.pipeline import free_port

PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")


@dataclass
class Round:
    target: str
    rps: float
    p50_s: float
    p99_s: float
    statuses: dict
    errors: dict
    server_cpu_ms_per_req: float
    broker_cpu_ms_per_req: float
    client_cpu_ms_per_req: float
    box_busy: float  # cores the whole machine was busy during the run


@dataclass
class EdgeResult:
    rounds: list[Round]
    requests: int
    concurrency: int

    def best(self, target: str) -> Round:
        return max((r for r in self.rounds if r.target == target), key=lambda r: r.rps)


def _env() -> dict[str, str]:
    paths = [str(REPO_ROOT), str(REPO_ROOT / "gen" / "python")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


async def _wait_port(port: int, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        if loop.time() > deadline:
            raise TimeoutError(f"no-op app did not listen on {port}")
        await asyncio.sleep(0.1)


# The servers of the edge phase, in the order each round runs them: the name the table, the JSON
# and `EdgeResult.best` know each by.
NOOP, NOOP_TRACED, EDGE = "no-op", "no-op-traced", "edge"


@contextlib.asynccontextmanager
async def noop_server(traced: bool = False):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "tests.bench.noop_app", "--port", str(port), *(["--traced"] if traced else []),
        cwd=REPO_ROOT, env=_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )
    try:
        await _wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        await proc.wait()


async def _load(url: str, requests: int, concurrency: int, warmup: int, tag: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "tests.bench.loadgen", "--url", f"{url}/support/submit",
        "-n", str(requests), "-c", str(concurrency), "--warmup", str(warmup), "--tag", tag,
        cwd=REPO_ROOT, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def run(edge_url: str, edge_pid: int, broker_pid: int | None, *, requests: int,
              concurrency: int, warmup: int, rounds: int,
              profile_dir: Path | None = None) -> EdgeResult:
    """With `profile_dir`, each server's first measured round is also a flame graph (its
    CPU figures then include py-spy's sampling: the other rounds are the ones to compare)."""
    result = EdgeResult([], requests, concurrency)
    async with noop_server() as (noop_url, noop_pid), \
            noop_server(traced=True) as (traced_url, traced_pid):
        targets = [(NOOP, noop_url, noop_pid), (NOOP_TRACED, traced_url, traced_pid),
                   (EDGE, edge_url, edge_pid)]
        for n in range(1, rounds + 1):
            for name, url, pid in targets:
                # Warm-up in a run of its own, so the CPU readings cover measured requests only.
                if warmup:
                    await _load(url, warmup, concurrency, 0, f"{name}-w{n}")
                busy0, wall0 = box_busy_seconds(), time.monotonic()
                server0 = cpu_seconds(pid)
                broker0 = cpu_seconds(broker_pid) if broker_pid else float("nan")
                flames = (profile.recording({name: pid}, profile_dir) if profile_dir and n == 1
                          else contextlib.nullcontext())
                async with flames:
                    r = await _load(url, requests, concurrency, 0, f"{name}-r{n}")
                server_ms = (cpu_seconds(pid) - server0) * 1000 / requests
                broker_ms = ((cpu_seconds(broker_pid) - broker0) * 1000 / requests
                             if broker_pid else float("nan"))
                box = (box_busy_seconds() - busy0) / (time.monotonic() - wall0)
                rnd = Round(name, r["rps"], r["p50_s"], r["p99_s"], r["statuses"], r["errors"],
                            server_ms, broker_ms, r["client_cpu_s"] * 1000 / requests, box)
                result.rounds.append(rnd)
                progress("edge", (
                    f"round {n}/{rounds} {name:<12} {requests} req @ c={concurrency}: "
                    f"{rnd.rps:,.0f} req/s  p50 {ms(rnd.p50_s)}  p99 {ms(rnd.p99_s)}  "
                    f"server CPU {fmt(server_ms, ' ms', 2)}/req"
                    + (f"  broker CPU {fmt(broker_ms, ' ms', 2)}/req" if name == EDGE else "")
                    + f"  box busy {box:.2f} cores  statuses {r['statuses']}" + (f" errors {r['errors']}" if r["errors"] else "")
                ))
    return result

