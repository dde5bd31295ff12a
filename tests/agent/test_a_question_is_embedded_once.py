"""One customer message, one run of the encoder for its question: the guardrails' intent
classifier reads the question as the knowledge search does (`clean_question`: no greeting,
sign-off or "Subject:" label), so the search finds that vector already made (RecentVectors)
instead of encoding a near-copy of the message again (~6 ms of the agent's CPU per reply,
tests/bench/README.md). Shown on a real agent over gRPC, its real embedder watched."""

from __future__ import annotations

import contextlib
import functools

from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc

from services.agent import server as agent_server
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from services.common.text import clean_question
from tests.agent.helpers import EMAIL, ask
from tests.agent_services import agent_settings

SUBJECT = "Billing question"
MESSAGE = "Hi,\n\nWhere can I download our invoices as PDF?\n\nThanks,\nAna"


async def test_the_classifier_and_the_search_share_the_questions_embedding(
        seeded_knowledge, knowledge_dsn, conversation_address, conversation, service_auth, admin_key,
        monkeypatch):
    encoded: list[str] = []
    real_build_embedder = agent_server.build_embedder

    @contextlib.asynccontextmanager
    async def watched(settings):
        async with real_build_embedder(settings) as embedder:
            encode = embedder.inner.embed

            async def recording(texts):
                encoded.extend(texts)
                return await encode(texts)

            embedder.inner.embed = recording  # what reaches the model, after the memory
            yield embedder

    monkeypatch.setattr(agent_server, "build_embedder", watched)
    settings = agent_settings(knowledge_dsn, conversation_address, **service_auth("agent"))
    async with running("agent", settings, functools.partial(agent_server.build, settings=settings)) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=60, credential=admin_key) as channel:
            exchange = await ask(conversation, agent_grpc.AgentServiceStub(channel), MESSAGE, EMAIL,
                                 subject=SUBJECT)

    assert not exchange.response.escalated, exchange.text
    assert "Settings → Billing → Invoices" in exchange.text
    assert "search_knowledge_base" in exchange.tools
    question = clean_question(f"Subject: {SUBJECT}\n\n{MESSAGE}")
    assert question == "Billing question. Where can I download our invoices as PDF?"
    about_it = [text for text in encoded if "download our invoices" in text]
    assert about_it == [question], encoded
