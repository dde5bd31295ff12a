"""The objects a process makes while it starts (modules, the app, models, the SDK) live as long
as it does: once it is serving they are moved out of the garbage collector's way.

CPython's full (generation 2) collection walks every tracked object. A service holds 70,000 to
220,000 of them after start-up, so each full collection held up every call in that process:
measured at 10 senders (`tests/bench`, gc callbacks timing each collection), pauses of up to
70 ms in the conversation service, 170 ms in the agent and 200 ms in the worker, about 0.9 s of
CPU across the pipeline in a 40 s window. With the start-up heap frozen the longest full
collection was 18 ms (agent) and most processes ran none at all (tests/bench/README.md). Objects made later are collected as
before; frozen ones still go when nothing refers to them (only cycles among them would stay,
and start-up objects are not garbage)."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """Collects what start-up left behind, then freezes the rest (`gc.freeze`). Call once, when
    the process is about to serve; not in tests, whose processes start and stop many services."""
    gc.collect()
    gc.freeze()
    log.debug("froze %d start-up objects", gc.get_freeze_count())
