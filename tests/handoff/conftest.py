"""`notifier`: the real notifier running on topics of its own (tests/handoff/notifier_run.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.handoff.notifier_run import NotifierRun, notifier_run


@pytest.fixture
async def notifier(stack, conversation_address, identity_address, service_keys, conversation,
                   identity) -> AsyncIterator[NotifierRun]:
    async with notifier_run(stack, conversation_address, identity_address, service_keys,
                            conversation, identity) as run:
        yield run
