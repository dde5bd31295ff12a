"""The overload run (tests/load/overload.py) against edges on the bench's own PostgreSQL + Kafka:

    python -m tests.load.overload_on_bench_stack --users 1000 --duration 60 \\
        --edge now:1 --edge now:2 --edge /tmp/old-checkout:1

brings up the bench stack and pipeline (tests/bench/stack.py), stops the worker, dispatcher,
notifier and agent (so the thousands of submissions wait in Kafka and the box's two cores go to
the edge and Locust, as in the bench's edge figure), then for each
`--edge ROOT:WORKERS[:NAME=VALUE,...]` starts an edge from that checkout (`now`: this one) with
EDGE_WORKERS=WORKERS and those settings on a free port, runs the Locust users against it, stops it
with SIGTERM and prints one JSON line: the overload result plus the edge's CPU seconds (every
process of its group) and the box's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace

from devstack import REPO_ROOT
from devstack.runner import child_env
from tests.bench.stack import bench_lock, bench_pipeline, bench_stack
from tests.load.overload import run_overload
from tests.ports import free_port


def _group_cpu_s(pgid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5, pgrp (after state, ppid)
                total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def _edge(pipe, root: str, workers: int, extra_env: dict[str, str]):
    spec = next(p for p in pipe.processes if p.name == "edge")
    spec = replace(spec, port=free_port(), env={**spec.env, **extra_env, "EDGE_WORKERS": str(workers),
                                                "OTEL_SERVICE_NAME": "edge"})
    env = child_env(spec, pipe.processes, pipe.endpoints, base={**os.environ, **pipe.extra_env})
    env["PYTHONPATH"] = f"{root}:{root}/gen/python"
    log = open(REPO_ROOT / "artifacts" / "bench-logs" / f"edge-{os.path.basename(root)}-{workers}.log", "ab")
    proc = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv/bin/python"), "-m", "services.edge", cwd=root, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    log.close()
    for _ in range(600):
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", spec.port)
            w.close()
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(3 if workers > 1 else 1)  # every worker up, the producer connected
    return proc, f"http://127.0.0.1:{spec.port}"


async def main(args) -> None:
    with bench_lock():
        async with bench_stack() as endpoints, bench_pipeline(endpoints) as pipe:
            for name in ("worker", "dispatcher", "notifier", "agent", "edge"):
                await pipe.kill(name, signal.SIGTERM)
            extra = dict(e.split("=", 1) for e in args.env)
            for variant in args.edge:
                root, workers, *settings = variant.split(":", 2)
                root = str(REPO_ROOT) if root == "now" else root
                own = dict(kv.split("=", 1) for kv in settings[0].split(",")) if settings else {}
                proc, url = await _edge(pipe, root, int(workers), {**extra, **own})
                cpu0 = _group_cpu_s(proc.pid)
                result = await run_overload(url, args.users, args.duration)
                cpu = _group_cpu_s(proc.pid) - cpu0
                os.killpg(proc.pid, signal.SIGTERM)
                code = await proc.wait()
                print(json.dumps({"edge": variant, "edge_cpu_s": round(cpu, 1), "edge_exit": code,
                                  "env": {**extra, **own}, **result}), flush=True)
                await asyncio.sleep(args.pause)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edge", action="append", required=True,
                        help="ROOT:WORKERS[:NAME=VALUE,...] (ROOT `now`: this checkout; settings for that edge)")
    parser.add_argument("-u", "--users", type=int, default=1000)
    parser.add_argument("-t", "--duration", type=float, default=60)
    parser.add_argument("--pause", type=float, default=10, help="seconds between runs")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for every edge")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
