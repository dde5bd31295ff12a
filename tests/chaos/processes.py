"""The processes `make run` starts, on the ports the chaos harness chose (FTE_CHAOS_PORTS, JSON
{name: {"port": int | null, "env": {...}}}), so a chaos stack runs beside `make run` and the
tests: `python -m devstack run` loads this module through FTE_DEVSTACK_PROCESSES."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from devstack.processes import PROCESSES as MAKE_RUN
from devstack.processes import SETUP  # `devstack run` runs it first: the knowledge base, a key

_MOVED: dict[str, dict] = json.loads(os.environ.get("FTE_CHAOS_PORTS") or "{}")

PROCESSES = tuple(
    replace(p, port=_MOVED[p.name]["port"], env={**p.env, **_MOVED[p.name]["env"]}) if p.name in _MOVED else p
    for p in MAKE_RUN
)

__all__ = ["PROCESSES", "SETUP"]
