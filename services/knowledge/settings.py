"""Configuration of the knowledge service (environment only; secrets never in code)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.config import Settings

KNOWLEDGE_BASE_DIR = Path(__file__).resolve().parent / "knowledge_base"


class KnowledgeSettings(Settings):
    # Its own port when served alone (`python -m services.knowledge`); in `make run` it is
    # served by the agent's process on the agent's port.
    grpc_port: int = 50055

    # OPENAI_API_KEY and/or OPENAI_BASE_URL (any OpenAI-compatible server, with or without a key).
    openai_api_key: str = Field(default="", repr=False)
    openai_base_url: str = ""

    # Embeddings: "local" (all-MiniLM-L6-v2, no network) or "openai" (text-embedding-3-small).
    embedding_provider: str = "local"
    openai_embedding_model: str = "text-embedding-3-small"
    embedding_timeout_s: float = 45.0

    knowledge_base_dir: Path = KNOWLEDGE_BASE_DIR

    @property
    def online(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)
