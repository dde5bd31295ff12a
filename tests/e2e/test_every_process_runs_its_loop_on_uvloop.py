"""Every process of the pipeline runs its event loop on uvloop (services/common/loop.py; the
edge through uvicorn's `loop="uvloop"`), read off the running processes' own stacks with py-spy
(`py-spy dump`, as the bench's profiler reads them): on asyncio's loop the main thread turns in
Python (`run_forever` in `asyncio/base_events.py`), on uvloop's in Cython, under `uvloop.run`
or uvicorn's runner, with no asyncio loop frame."""

from __future__ import annotations

import asyncio
import json

from tests.bench.profile import PY_SPY


async def main_thread_frames(pid: int) -> list[str]:
    dump = await asyncio.create_subprocess_exec(
        str(PY_SPY), "dump", "--json", "--pid", str(pid),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await dump.communicate()
    assert dump.returncode == 0, err.decode(errors="replace")
    main = next(t for t in json.loads(out) if t["thread_name"] == "MainThread")
    return [f"{f['name']} ({f['short_filename']})" for f in main["frames"]]


async def test_every_pipeline_process_turns_its_loop_in_uvloop(pipeline) -> None:
    stacks = {name: await main_thread_frames(proc.pid) for name, proc in pipeline.procs.items()}
    assert {"access", "identity", "conversation", "agent", "worker", "dispatcher", "notifier", "edge"} <= set(stacks)
    on_asyncio_loop = {name: frames for name, frames in stacks.items()
                       if any("asyncio/base_events.py" in f for f in frames)}
    assert on_asyncio_loop == {}
    # Each still in its runner: a bottom frame of uvloop.run, or of uvicorn serving the edge.
    assert {name for name, frames in stacks.items()
            if not any("uvloop/__init__.py" in f or "uvicorn/server.py" in f for f in frames)} == set()
