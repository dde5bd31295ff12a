"""Every long-running process (the gRPC services, the worker, the dispatcher, the notifier and
the edge, through uvicorn) runs its event loop on uvloop: libuv's loop, written in Cython, in
place of asyncio's own in pure Python.

The pipeline spends much of its CPU in the loop itself: each reply crosses about 15 gRPC calls
and 35 PostgreSQL round trips, each a socket write and a wake-up. Measured by `tests/bench`
(10 senders, two alternating A/B pairs): CPU per reply 110 → 93 and 84 → 71 ms, the agent,
conversation, identity and worker each 10-25% lower (tests/bench/README.md). grpc.aio, asyncpg and aiokafka
run on it unchanged."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on a uvloop loop: a process's main calls this once."""
    return uvloop.run(main)
