"""KnowledgeService served on its own (the build `python -m services.knowledge` runs) answers
searches, and an agent started with SERVE_KNOWLEDGE=false answers from it at KNOWLEDGE_ADDR:
moving knowledge into a deployment of its own is configuration, not code."""

from __future__ import annotations

import functools

import grpc
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.agent import server as agent_server
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.knowledge import server as knowledge_server
from services.knowledge.settings import KnowledgeSettings
from tests.agent.helpers import EMAIL, ask
from tests.agent_services import agent_settings
from tests.running_services import rpc_error


async def test_knowledge_alone_serves_search_and_an_agent_without_it_answers_from_it(
    seeded_knowledge, knowledge_dsn, conversation_address, conversation, service_auth, admin_key
):
    alone = KnowledgeSettings(
        grpc_port=0, database_url=knowledge_dsn, embedding_provider="local",
        openai_api_key="", openai_base_url="", **service_auth("knowledge"),
    )
    build_knowledge = functools.partial(knowledge_server.build, settings=alone)
    async with running("knowledge-alone", alone, build_knowledge) as knowledge_service:
        knowledge_addr = f"127.0.0.1:{knowledge_service.port}"
        settings = agent_settings(
            knowledge_dsn, conversation_address, serve_knowledge=False, knowledge_addr=knowledge_addr,
            **service_auth("agent"),
        )
        build_agent = functools.partial(agent_server.build, settings=settings)
        async with (
            running("agent-without-knowledge", settings, build_agent) as agent_service,
            open_channel(knowledge_addr, timeout_s=30, credential=admin_key) as knowledge_channel,
            open_channel(f"127.0.0.1:{agent_service.port}", timeout_s=60, credential=admin_key) as agent_channel,
        ):
            found = await kb_grpc.KnowledgeServiceStub(knowledge_channel).Search(
                kb_pb.SearchRequest(query="reset my password", k=3)
            )
            assert found.results and found.results[0].slug in {"password-reset", "reset-link-expired"}

            # The agent's own port no longer serves knowledge ...
            on_agent_port = await rpc_error(
                kb_grpc.KnowledgeServiceStub(agent_channel).Search(kb_pb.SearchRequest(query="reset"))
            )
            assert on_agent_port.code() == grpc.StatusCode.UNIMPLEMENTED
            health = health_pb2_grpc.HealthStub(agent_channel)
            unknown = await rpc_error(health.Check(
                health_pb2.HealthCheckRequest(service="fte.knowledge.v1.KnowledgeService")))
            assert unknown.code() == grpc.StatusCode.NOT_FOUND

            # ... yet its answer is grounded in an article, found at KNOWLEDGE_ADDR.
            ex = await ask(conversation, agent_grpc.AgentServiceStub(agent_channel),
                           "How long is the password reset link valid?", EMAIL, subject="Password reset")
            assert "valid for 60 minutes" in ex.response.reply.text
            assert ex.response.article_ids and not ex.response.escalated
