import functools
from collections.abc import AsyncIterator

import pytest
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc

from services.agent import server as agent_server
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.agent.fake_openai import FakeOpenAI
from tests.agent_services import agent_settings

ONLINE_MODEL = "gpt-4o-compatible-test"


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI-compatible server, reset for each test."""
    fake_openai.reset()
    return fake_openai


@pytest.fixture(scope="session")
async def online_agent(
    seeded_knowledge, knowledge_dsn: str, conversation_address: str, fake_openai: FakeOpenAI,
    service_auth, admin_key: str,
) -> AsyncIterator[agent_grpc.AgentServiceStub]:
    """The same service configured with OPENAI_BASE_URL/OPENAI_API_KEY: the online path."""
    settings = agent_settings(
        knowledge_dsn, conversation_address,
        openai_base_url=fake_openai.base_url, openai_api_key="sk-test-key",
        agent_model=ONLINE_MODEL, **service_auth("agent"),
    )
    build = functools.partial(agent_server.build, settings=settings)
    async with running("agent-online", settings, build) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=60, credential=admin_key) as channel:
            yield agent_grpc.AgentServiceStub(channel)
