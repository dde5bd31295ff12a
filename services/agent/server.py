"""gRPC servicer for fte.agent.v1.AgentService (and, in the same process for now, the
knowledge service's servicer from services.knowledge.server).

Translation only: requests become domain calls (agent.SupportAgent), results become
responses. Domain code raises typed errors; the shared interceptor maps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED

from services.agent import intents as intents_module
from services.agent import language
from services.agent.agent import RespondInput, SupportAgent
from services.agent.runtime import build_model
from services.agent.settings import AgentSettings
from services.common import channels
from services.common.errors import InvalidArgument
from services.common.grpc_server import Servicer
from services.common.metrics import AGENT_ERRORS, KNOWLEDGE_SEARCHES, zero
from services.knowledge import server as knowledge_server
from services.knowledge.embeddings import build_embedder

__all__ = ["AgentSettings", "build"]

log = logging.getLogger(__name__)


class AgentServicer(agent_grpc.AgentServiceServicer):
    def __init__(self, agent: SupportAgent) -> None:
        self.agent = agent

    async def Respond(self, request: agent_pb.RespondRequest, context) -> agent_pb.RespondResponse:
        problems = []
        for name in ("ticket_id", "customer_id"):
            value = getattr(request, name).strip()
            if not value:
                problems.append(f"{name}: required")
                continue
            try:
                uuid.UUID(value)
            except ValueError:
                problems.append(f"{name}: {value!r} is not a UUID")
        if request.channel not in channels.BY_VALUE:
            problems.append("channel: required (EMAIL, WHATSAPP or WEB_FORM)")
        if len(request.message) > 20000:
            problems.append("message: longer than 20000 characters")
        if problems:
            raise InvalidArgument("; ".join(problems))
        outcome = await self.agent.respond(
            RespondInput(
                ticket_id=request.ticket_id.strip(),
                customer_id=request.customer_id.strip(),
                conversation_id=request.conversation_id.strip(),
                channel=request.channel,
                message=request.message,
                subject=request.subject,
                customer_name=request.customer_name,
                message_id=request.message_id,
                # Only an explicit claim narrows the history: callers from before the field
                # existed vouched for their sender.
                sender_verified=request.sender_assurance != SENDER_ASSURANCE_CLAIMED,
                ticket_processing=request.ticket_processing,
            )
        )
        return outcome.to_proto()


async def build(
    resources: contextlib.AsyncExitStack, settings: AgentSettings | None = None
) -> list[Servicer]:
    settings = settings or AgentSettings()
    zero(AGENT_ERRORS, ("downstream", "tool", "model", "timeout"))
    zero(KNOWLEDGE_SEARCHES, ("hit", "miss"))
    embedder = await resources.enter_async_context(build_embedder(settings))
    # The agent's tools call Knowledge and Conversation over gRPC like any other client
    # (Knowledge is normally this very process), through channels this service owns.
    knowledge_channel = settings.channel(resources, settings.knowledge_addr)
    conversation_channel = settings.channel(resources, settings.conversation_addr)
    # IdentityService for account linking (StartLink / ConfirmLink); connects on first use.
    identity_channel = settings.channel(resources, settings.identity_addr)
    model = await resources.enter_async_context(build_model(settings, embedder))
    # The guardrails' intent classifier (MiniLM vectors) and language models load at startup.
    intents = await asyncio.to_thread(intents_module.classifier_for, embedder)
    await asyncio.to_thread(language.warm)
    agent = SupportAgent(settings, model, knowledge_channel, conversation_channel,
                         identity_channel, intents)
    servicers = [
        Servicer(
            agent_grpc.add_AgentServiceServicer_to_server,
            AgentServicer(agent),
            "fte.agent.v1.AgentService",
        )
    ]
    if settings.serve_knowledge:
        # One process, one port, one embedder for both services for now.
        servicers += await knowledge_server.build(resources, settings, embedder=embedder)
    return servicers
