"""`services.common.loop.run`, which every process's main calls: the coroutine runs to its result
on a uvloop loop, and the loop is closed afterwards (as `asyncio.run` closes its own)."""

from __future__ import annotations

import asyncio

import uvloop

from services.common import loop


def test_run_returns_the_result_of_a_coroutine_run_on_a_uvloop_loop() -> None:
    async def main() -> asyncio.AbstractEventLoop:
        await asyncio.sleep(0)
        return asyncio.get_running_loop()

    used = loop.run(main())
    assert isinstance(used, uvloop.Loop)
    assert used.is_closed()
