"""`make chaos`: every fault of the chaos suite on the full profile (30 s outages, a minute of
channel 503s, 60 messages a case), or `--short` (what `make test` runs). Prints the table and
writes artifacts/chaos/<profile>.txt and .json; exits 1 if a message was lost or doubled.

    python -m tests.chaos [--short] [--only SUBSTRING ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tests.chaos.harness import FAULTS, FULL, SHORT, ChaosStack, run_case, table, write_table


async def main(profile, only: list[str]) -> int:
    faults = [f for f in FAULTS if not only or any(o.lower() in f.name.lower() for o in only)]
    stack = ChaosStack()
    outcomes = []
    try:
        print(f"chaos ({profile.name}): starting the stack under `devstack run`", flush=True)
        await stack.start()
        for fault in faults:
            print(f"chaos: {fault.name} ...", flush=True)
            outcome = await run_case(stack, fault, profile)
            outcomes.append(outcome)
            print("  " + "  ".join(outcome.row()), flush=True)
    finally:
        await stack.stop()
        write_table(outcomes, profile)
    print(table(outcomes))
    return 1 if any(o.lost or o.doubled for o in outcomes) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the short form `make test` runs")
    parser.add_argument("--only", nargs="*", default=[], help="run only the faults whose name contains one")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(SHORT if args.short else FULL, args.only)))
