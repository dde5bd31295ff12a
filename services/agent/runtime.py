"""Picks the embedder and the agent model from the settings, and owns their clients."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from services.agent.embeddings import Embedder, LocalEmbedder, OpenAIEmbedder
from services.agent.settings import AgentSettings

log = logging.getLogger(__name__)


def _openai_client(settings: AgentSettings):
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        # OpenAI-compatible servers (vLLM, Ollama) often need no key, but the client wants one.
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url or None,
        timeout=settings.agent_timeout_s,
        max_retries=2,
    )


@contextlib.asynccontextmanager
async def build_embedder(
    settings: AgentSettings, preload: bool = True
) -> AsyncIterator[Embedder]:
    """`preload=False` defers loading the local model to the first embed call (the seed
    command: re-seeding unchanged articles never needs it)."""
    provider = settings.embedding_provider.strip().lower()
    if provider == "local":
        embedder = LocalEmbedder()
        if preload:
            embedder.load()  # seconds, once per process: pay it at startup, not on a request
        yield embedder
    elif provider == "openai":
        if not settings.online:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY or OPENAI_BASE_URL")
        client = _openai_client(settings)
        try:
            yield OpenAIEmbedder(client, settings.openai_embedding_model)
        finally:
            await client.close()
    else:
        raise ValueError(f"EMBEDDING_PROVIDER must be 'local' or 'openai', not {provider!r}")


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

        client = _openai_client(settings)
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
