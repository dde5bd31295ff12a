"""What the same work costs in CPU when one process does it, when two do it at once (one per
core here) and when four do (two per core, taking turns): the agent's language detection
(`services.agent.language.detect`, lingua, a pure function) over the eval tickets, measured in
each process with `time.process_time`, alternating rounds.

    .venv/bin/python -m tests.bench.contention [--seconds 8] [--rounds 2] [--processes 1,2,4]

Why: the scale-out figure (replies per CPU-second with two workers and two agents against one
of each) falls on this 2-vCPU machine even though a replica adds no work per reply; this shows
how much of that is the machine (tests/bench/README.md, "x2 / x1")."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from devstack import REPO_ROOT
from tests.bench.end_to_end import TICKETS


def _detect_for(seconds: float) -> None:
    """One process's part: detect languages for `seconds` of wall time, then print the CPU per
    call as JSON."""
    from services.agent import language

    language.warm()
    texts = [f"{t['subject']}\n{t['message']}" for t in map(json.loads, TICKETS.read_text().splitlines())]
    for text in texts:  # warm-up
        language.detect(text)
    calls, cpu0, wall0 = 0, time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        language.detect(texts[calls % len(texts)])
        calls += 1
    print(json.dumps({"us": (time.process_time() - cpu0) / calls * 1e6, "calls": calls}), flush=True)


def _run(processes: int, seconds: float) -> list[float]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.bench.contention", "--one", str(seconds)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a measuring process failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1])["us"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", default="1,2,4", help="comma-separated counts run at once")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        _detect_for(args.one)
        return
    counts = [int(n) for n in args.processes.split(",")]
    print(f"language.detect, µs of CPU per call in each process ({args.seconds:.0f} s per measurement)")
    for n in range(1, args.rounds + 1):
        figures = {count: _run(count, args.seconds) for count in counts}
        base = sum(figures[counts[0]]) / len(figures[counts[0]])
        print(f"  round {n}: " + "; ".join(
            f"{count} at once " + " ".join(f"{us:.0f}" for us in figures[count])
            + ("" if count == counts[0] else f" ({sum(figures[count]) / len(figures[count]) / base - 1:+.0%})")
            for count in counts), flush=True)

if __name__ == "__main__":
    main()
