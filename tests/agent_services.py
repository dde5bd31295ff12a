"""The agent + knowledge service started in this process through the real bootstrap, against
the test stack's PostgreSQL (role fte_knowledge), with the knowledge base seeded once per
session from the repository's article files. The agent's tools reach Knowledge (itself) and
Conversation (started by tests.running_services) over real gRPC.

A pytest plugin, registered once by tests/conftest.py (`pytest_plugins`): one service and one
seed per run, whichever folder asks first.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc

from devstack import migrate
from devstack.stack import Endpoints
from services.agent import server as agent_server
from services.knowledge.articles import load_directory
from services.knowledge.embeddings import LocalEmbedder
from services.knowledge.base import KnowledgeBase
from services.knowledge.store import KnowledgeStore
from services.knowledge.seed import SeedReport, seed
from services.agent.settings import AgentSettings
from services.knowledge.settings import KNOWLEDGE_BASE_DIR
from services.common.db import open_pool
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.agent.fake_openai import FakeOpenAI, serving
from tests.ports import free_port


@pytest.fixture(scope="session")
def knowledge_dsn(stack: Endpoints) -> str:
    return migrate.service_dsn(stack.admin_dsn, "knowledge")


@pytest.fixture(scope="session")
async def seeded_knowledge(knowledge_dsn: str) -> SeedReport:
    """The repository's knowledge base, seeded once (the first seed of a fresh stack)."""
    pool = await open_pool(knowledge_dsn, 1, 2)
    try:
        return await seed(
            KnowledgeBase(KnowledgeStore(pool), LocalEmbedder()), load_directory(KNOWLEDGE_BASE_DIR)
        )
    finally:
        await pool.close()


def agent_settings(knowledge_dsn: str, conversation_address: str, **overrides) -> AgentSettings:
    port = free_port()
    values = dict(
        grpc_port=port,
        knowledge_addr=f"127.0.0.1:{port}",
        conversation_addr=conversation_address,
        database_url=knowledge_dsn,
        rpc_timeout_s=20,
        # Tests must not pick up a developer's OpenAI settings from the environment.
        openai_api_key="",
        openai_base_url="",
        embedding_provider="local",
    )
    values.update(overrides)
    return AgentSettings(**values)


@pytest.fixture(scope="session")
async def agent_address(
    seeded_knowledge: SeedReport, knowledge_dsn: str, conversation_address: str, service_auth
) -> AsyncIterator[str]:
    settings = agent_settings(knowledge_dsn, conversation_address, **service_auth("agent"))
    build = functools.partial(agent_server.build, settings=settings)
    async with running("agent", settings, build) as service:
        yield f"127.0.0.1:{service.port}"


@pytest.fixture(scope="session")
async def agent(agent_address: str, admin_key: str) -> AsyncIterator[agent_grpc.AgentServiceStub]:
    async with open_channel(agent_address, timeout_s=60, credential=admin_key) as channel:
        yield agent_grpc.AgentServiceStub(channel)


@pytest.fixture(scope="session")
async def knowledge(agent_address: str, admin_key: str) -> AsyncIterator[kb_grpc.KnowledgeServiceStub]:
    async with open_channel(agent_address, timeout_s=30, credential=admin_key) as channel:
        yield kb_grpc.KnowledgeServiceStub(channel)


@pytest.fixture(scope="session")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """The local OpenAI-compatible HTTP server standing in for api.openai.com."""
    async with serving(FakeOpenAI()) as fake:
        yield fake
