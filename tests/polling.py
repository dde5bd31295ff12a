"""Waiting in tests for something the system does in the background."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    probe: Callable[[], T | Awaitable[T]], what: str, timeout: float = 60, every: float = 0.2
) -> T:
    """Polls `probe` (sync or async) until it returns something truthy, and returns that;
    TimeoutError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if loop.time() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}")
        await asyncio.sleep(every)
