"""Picks the agent model from the settings, and owns its client."""

from __future__ import annotations

import contextlib
import logging

from services.knowledge.embeddings import Embedder, openai_client
from services.agent.settings import AgentSettings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def build_model(settings: AgentSettings, embedder: Embedder):
    """The SDK `Model` the agent runs on: OpenAI (or compatible) when configured, else the
    offline model, which needs the embedder to rank sentences."""
    # The SDK would otherwise upload traces to OpenAI's dashboard: offline that is impossible,
    # online it would ship conversations to a second place. Spans go to our own OTel instead.
    from agents import set_tracing_disabled

    set_tracing_disabled(True)
    if settings.online:
        from agents import OpenAIChatCompletionsModel

        client = openai_client(settings, settings.agent_timeout_s)
        log.info("agent model: %s at %s", settings.agent_model,
                 settings.openai_base_url or "api.openai.com")
        try:
            # Chat Completions is the dialect every OpenAI-compatible server speaks.
            yield OpenAIChatCompletionsModel(model=settings.agent_model, openai_client=client)
        finally:
            await client.close()
    else:
        from services.agent.offline_model import OfflineModel

        log.info("agent model: offline")
        yield OfflineModel(embedder)
