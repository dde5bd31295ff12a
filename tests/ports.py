"""Ports for the servers tests start as separate processes.

`bind(("127.0.0.1", 0))` hands out ports from the kernel's ephemeral range, and a port picked
that way and released is free to be handed out again, e.g. to a fake server binding port 0 in
the meantime. Ports picked here come from below the ephemeral range instead (which port-0 binds
and outgoing connections never use), each at most once per test process."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_RANGE = (20000, 32000)
_given: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_range() -> tuple[int, int]:
    """The whole range, or under pytest-xdist the worker's own slice of it: two workers never
    hand out the same port."""
    low, high = _RANGE[0], min(_RANGE[1], _ephemeral_start())
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    width = (high - low) // max(count, 1)
    return low + index * width, low + (index + 1) * width


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and was not given out before in this process."""
    low, high = _worker_range()
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
