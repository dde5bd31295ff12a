"""The supervisor of `make run` (devstack/runner.py) on real processes, without the stack: a
process that keeps crashing at once waits longer before each restart, one that had stayed up
a while (FTE_DEVSTACK_BACKOFF_RESET_S) starts the schedule over each time."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

from devstack import runner
from devstack.processes import AppProcess
from devstack.stack import Endpoints
from services.common.retry import RetryPolicy
from tests.polling import until

INITIAL_S, MAX_S, RESET_S = 0.2, 5.0, 2.0
# Once its flag file exists, crashes within a fraction of RESET_S of its start (its first
# start waits for the flag: an exit before all are up would fail the start); and one that
# always outlives RESET_S.
def _flapping(flag: Path) -> AppProcess:
    return AppProcess("flapping", ("-c", f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.05)\n"
                                         "raise SystemExit(3)"))


STEADY = AppProcess("steady", ("-c", f"import time; time.sleep({RESET_S + 0.5}); raise SystemExit(4)"))


def _delays(output: str, name: str) -> list[float]:
    return [float(d) for d in re.findall(rf"^{name} exited with code \d after [\d.]+s up; "
                                         r"restarting it in ([\d.]+)s \(restart \d+\)$", output, re.MULTILINE)]


async def test_backoff_grows_for_a_crash_loop_and_starts_over_after_a_long_run(tmp_path: Path) -> None:
    out, stop, state_file = io.StringIO(), asyncio.Event(), tmp_path / "processes.json"
    supervising = asyncio.create_task(runner.supervise(
        (_flapping(tmp_path / "crash"), STEADY), Endpoints("postgresql://unused", "unused:9092"), stop, out,
        restart=runner.RestartPolicy(RetryPolicy(initial_s=INITIAL_S, max_s=MAX_S), RESET_S),
        state_file=state_file))
    try:
        await until(lambda: "all processes up" in out.getvalue(), "the start")
        (tmp_path / "crash").touch()
        await until(lambda: len(_delays(out.getvalue(), "flapping")) >= 5
                    and len(_delays(out.getvalue(), "steady")) >= 3, "five and three restarts", timeout=90)
    finally:
        stop.set()
        code = await supervising

    assert code == 0, out.getvalue()
    flapping, steady = _delays(out.getvalue(), "flapping"), _delays(out.getvalue(), "steady")
    # 0.2-0.4, 0.4-0.6, 0.8-1.0, 1.6-1.8, 3.2-3.4 s (doubling, up to INITIAL_S of jitter; printed
    # to 0.1 s).
    for n, delay in enumerate(flapping[:5]):
        assert INITIAL_S * 2**n - 0.05 <= delay <= INITIAL_S * (2**n + 1) + 0.05, flapping
    assert all(delay <= 2 * INITIAL_S + 0.05 for delay in steady), f"no fresh start after {RESET_S}s up: {steady}"
    state = json.loads(state_file.read_text())["processes"]
    assert state["flapping"]["last_exit"] == 3 and state["steady"]["last_exit"] == 4
    for name in ("flapping", "steady"):
        assert state[name]["restarts"] == out.getvalue().count(f"{name} restarted (restart ") > 0
    assert {p["state"] for p in state.values()} == {"stopped"}
