"""`notifier`: the real notifier running on topics of its own (tests/handoff/notifier_run.py);
`as_person`: stubs of HandoffService acting as different people (API keys of the access service)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fte.handoff.v1 import handoff_service_pb2_grpc as pb_grpc

from services.common.grpc_client import open_channel
from tests.access_services import create_key
from tests.handoff.notifier_run import NotifierRun, notifier_run


@pytest.fixture
async def notifier(stack, conversation_address, identity_address, service_keys, conversation,
                   identity) -> AsyncIterator[NotifierRun]:
    async with notifier_run(stack, conversation_address, identity_address, service_keys,
                            conversation, identity) as run:
        yield run


@pytest.fixture(scope="session")
async def second_agent_key(access_dsn: str) -> str:
    return await create_key(access_dsn, "agent", "second person")


@pytest.fixture(scope="session")
async def as_person(conversation_address: str, role_keys: dict[str, str], second_agent_key: str
                    ) -> AsyncIterator[dict[str, pb_grpc.HandoffServiceStub]]:
    """{"agent", "second", "viewer", "admin"} → a HandoffService stub calling as that person."""
    keys = {**role_keys, "second": second_agent_key}
    channels = {who: open_channel(conversation_address, 20, credential=key) for who, key in keys.items()}
    yield {who: pb_grpc.HandoffServiceStub(channel) for who, channel in channels.items()}
    for channel in channels.values():
        await channel.close()
