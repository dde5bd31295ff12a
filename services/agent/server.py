"""gRPC servicers for fte.agent.v1.AgentService and fte.knowledge.v1.KnowledgeService."""

from __future__ import annotations

import contextlib

from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.knowledge.v1 import knowledge_service_pb2_grpc as knowledge_grpc

from services.common.config import Settings
from services.common.grpc_server import Servicer


class AgentSettings(Settings):
    grpc_port: int = 50053


class AgentServicer(agent_grpc.AgentServiceServicer):
    """RPCs not implemented yet answer UNIMPLEMENTED (the generated base class)."""


class KnowledgeServicer(knowledge_grpc.KnowledgeServiceServicer):
    """RPCs not implemented yet answer UNIMPLEMENTED (the generated base class)."""


async def build(resources: contextlib.AsyncExitStack) -> list[Servicer]:
    return [
        Servicer(
            agent_grpc.add_AgentServiceServicer_to_server,
            AgentServicer(),
            "fte.agent.v1.AgentService",
        ),
        Servicer(
            knowledge_grpc.add_KnowledgeServiceServicer_to_server,
            KnowledgeServicer(),
            "fte.knowledge.v1.KnowledgeService",
        ),
    ]
