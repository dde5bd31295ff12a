"""Configuration of the agent service (environment only; secrets never in code).

It extends the knowledge settings: the agent's process serves KnowledgeService too (unless
SERVE_KNOWLEDGE=false), and its offline model ranks sentences with the same embedder."""

from __future__ import annotations

from services.knowledge.settings import KnowledgeSettings


class AgentSettings(KnowledgeSettings):
    grpc_port: int = 50053
    # Also serve fte.knowledge.v1.KnowledgeService from this process (one port for both). Set
    # false once knowledge runs on its own (`python -m services.knowledge`) at KNOWLEDGE_ADDR.
    serve_knowledge: bool = True

    # The model. Nothing set: the offline model. OPENAI_API_KEY: OpenAI. OPENAI_BASE_URL: any
    # OpenAI-compatible server (vLLM, Ollama, ...), with or without a key (see KnowledgeSettings).
    agent_model: str = "gpt-4o"
    # Whether the model may answer in the customer's language. Empty: yes for online models,
    # no for the offline one (it composes from English articles only).
    agent_multilingual: bool | None = None
    # Seconds one Respond may spend in the model and tools before it gives up and escalates.
    agent_timeout_s: float = 45.0

    # Fused search score under which a knowledge hit does not count as relevant. Calibrated on
    # the labelled tickets (tests/agent/eval): answerable questions score above it, questions
    # the base cannot answer score below.
    knowledge_min_score: float = 0.42

    # More than this many customer messages inside one minute: one "working on it" notice.
    rate_limit_messages: int = 10
    rate_limit_window_s: float = 60.0

    @property
    def multilingual(self) -> bool:
        return self.online if self.agent_multilingual is None else self.agent_multilingual
