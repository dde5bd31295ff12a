"""Ports for the servers tests start.

Two kinds, in ranges that never meet:
- a stack's fixed ports (`stack_port`): a base below `STACK_BASES_BELOW`, plus `PORT_OFFSET`,
  which gives each pytest-xdist worker (+1000 a worker) and each checkout (FTE_TEST_PORT_OFFSET,
  e.g. for a git worktree testing beside the main one) ports of its own;
- ports picked at random (`free_port`), from above the highest fixed port any worker of this run
  can have, up to the kernel's ephemeral range. `bind(("127.0.0.1", 0))` hands out ports from
  that ephemeral range, and a port picked that way and released is free to be handed out again,
  e.g. to a fake server binding port 0 in the meantime; outgoing connections use it too. Ports
  picked here lie below it instead, each at most once per test process, and each worker picks
  from a slice of its own."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

STACK_BASES_BELOW = 20000
WORKER_STRIDE = 1000
_FREE_PORTS_BELOW = 32000
# The ports free_port gave out in this process.
_given: set[int] = set()


def _worker_index(worker: str) -> int:
    return int(worker.removeprefix("gw") or 0)


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_CHECKOUT_OFFSET = int(os.environ.get("FTE_TEST_PORT_OFFSET", "0"))
PORT_OFFSET = _CHECKOUT_OFFSET + WORKER_STRIDE * _worker_index(WORKER)


def stack_port(base: int) -> int:
    """`base` moved to this worker's and this checkout's ports."""
    if not 1024 <= base < STACK_BASES_BELOW:
        raise ValueError(f"a stack's base port must be from 1024 to {STACK_BASES_BELOW - 1}, not {base}")
    return base + PORT_OFFSET


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_range(worker: str, workers: int, checkout_offset: int, ephemeral_start: int) -> tuple[int, int]:
    """The ports `free_port` picks from in `worker`, one of `workers` (a slice of its own; the whole
    range outside pytest-xdist): above the highest stack port the last worker can have."""
    low = STACK_BASES_BELOW + checkout_offset + WORKER_STRIDE * (max(workers, 1) - 1)
    high = min(_FREE_PORTS_BELOW, ephemeral_start)
    width = (high - low) // max(workers, 1)
    if width < 100:
        raise RuntimeError(f"FTE_TEST_PORT_OFFSET={checkout_offset} with {workers} workers leaves "
                           f"no room for free ports below {high}")
    index = _worker_index(worker)
    return low + index * width, low + (index + 1) * width


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and was not given out before in this process."""
    low, high = free_port_range(WORKER, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
                                _CHECKOUT_OFFSET, _ephemeral_start())
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {low}..{high}")
