"""Configuration of the agent + knowledge service (environment only; secrets never in code)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.config import Settings

KNOWLEDGE_BASE_DIR = Path(__file__).resolve().parent / "knowledge_base"


class AgentSettings(Settings):
    grpc_port: int = 50053

    # The model. Nothing set: the offline model. OPENAI_API_KEY: OpenAI. OPENAI_BASE_URL: any
    # OpenAI-compatible server (vLLM, Ollama, ...), with or without a key.
    openai_api_key: str = Field(default="", repr=False)
    openai_base_url: str = ""
    agent_model: str = "gpt-4o"
    # Whether the model may answer in the customer's language. Empty: yes for online models,
    # no for the offline one (it composes from English articles only).
    agent_multilingual: bool | None = None
    # Seconds one Respond may spend in the model and tools before it gives up and escalates.
    agent_timeout_s: float = 45.0

    # Embeddings: "local" (all-MiniLM-L6-v2, no network) or "openai" (text-embedding-3-small).
    embedding_provider: str = "local"
    openai_embedding_model: str = "text-embedding-3-small"

    # Fused search score under which a knowledge hit does not count as relevant. Calibrated on
    # the labelled tickets (tests/agent/eval): answerable questions score above it, questions
    # the base cannot answer score below.
    knowledge_min_score: float = 0.42

    # More than this many customer messages inside one minute: one "working on it" notice.
    rate_limit_messages: int = 10
    rate_limit_window_s: float = 60.0

    knowledge_base_dir: Path = KNOWLEDGE_BASE_DIR

    @property
    def online(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def multilingual(self) -> bool:
        return self.online if self.agent_multilingual is None else self.agent_multilingual
