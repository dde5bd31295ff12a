"""The knowledge base as a domain object: upserts that embed only what changed, hybrid search,
paging. No gRPC here (server.py translates) and no SQL (knowledge_store.py)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace

from services.knowledge import search
from services.knowledge.articles import ArticleInput
from services.knowledge.embeddings import Embedder
from services.knowledge.store import ArticleRow, KnowledgeStore
from services.common.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("fte.knowledge")

MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class UpsertOutcome:
    article: ArticleRow
    created: bool
    embedded: bool


@dataclass(frozen=True)
class SearchHit:
    article: ArticleRow
    snippet: str
    score: float
    vector_score: float
    text_score: float


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[SearchHit]
    model: str


def _page_token(after_slug: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_slug}).encode()).decode()


def _after_slug(token: str) -> str:
    if not token:
        return ""
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise InvalidArgument("page_token: not a token from a previous ListArticles") from err


class KnowledgeBase:
    def __init__(self, store: KnowledgeStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._common: tuple[float, list[str]] = (0.0, [])

    async def _common_lexemes(self) -> list[str]:
        expires, lexemes = self._common
        if time.monotonic() >= expires:
            lexemes = await self.store.common_lexemes(search.TEXT_MATCHES_PER_LEXEME)
            self._common = (time.monotonic() + search.COMMON_LEXEMES_TTL_S, lexemes)
        return lexemes

    @property
    def model(self) -> str:
        return self.embedder.model

    async def upsert_many(self, articles: Sequence[ArticleInput]) -> list[UpsertOutcome]:
        """Writes every article; only those whose content (or active model) has no current
        vector are embedded, all of them in one batched call."""
        state = await self.store.freshness([a.slug for a in articles], self.model)
        stale = [
            a for a in articles
            if state.get(a.slug) != (a.content_hash, True)
        ]
        vectors = await self.embedder.embed([a.embedding_text() for a in stale]) if stale else []
        by_slug = {a.slug: v for a, v in zip(stale, vectors, strict=True)}
        outcomes = []
        for a in articles:
            row, created = await self.store.write(a, self.model, by_slug.get(a.slug))
            outcomes.append(UpsertOutcome(row, created, a.slug in by_slug))
        return outcomes

    async def upsert(self, article: ArticleInput) -> UpsertOutcome:
        return (await self.upsert_many([article]))[0]

    async def get(self, key: str) -> ArticleRow:
        if not key.strip():
            raise InvalidArgument("article_id: give the article's UUID or slug")
        row = await self.store.get(key.strip(), self.model)
        if row is None:
            raise NotFound(f"article {key!r} does not exist")
        return row

    async def list(
        self, page_size: int, page_token: str, category: str
    ) -> tuple[list[ArticleRow], str, int]:
        if page_size < 0 or page_size > 500:
            raise InvalidArgument("page_size: 1..500 (0 means 100)")
        rows, total = await self.store.list(
            self.model, page_size or 100, _after_slug(page_token), category.strip().lower()
        )
        full_page = len(rows) == (page_size or 100)
        next_token = _page_token(rows[-1].slug) if rows and full_page else ""
        return rows, next_token, total

    async def delete(self, key: str) -> None:
        if not key.strip():
            raise InvalidArgument("article_id: give the article's UUID or slug")
        if not await self.store.delete(key.strip()):
            raise NotFound(f"article {key!r} does not exist")

    async def search(
        self, query: str, k: int = 5, min_score: float = 0.0, category: str = ""
    ) -> SearchOutcome:
        query = " ".join(query.split())
        if not query:
            raise InvalidArgument("query: must not be empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidArgument(f"query: at most {MAX_QUERY_CHARS} characters")
        if k < 0 or k > 50:
            raise InvalidArgument("k: 1..50 (0 means 5)")
        if not 0.0 <= min_score <= 1.0:
            raise InvalidArgument("min_score: 0..1")
        # The embedding and the SQL (asyncpg's span) nest under this one. The query is the
        # customer's words: only its length goes on the span, never its text.
        with _tracer.start_as_current_span("knowledge.search") as span:
            span.set_attribute("fte.knowledge.model", self.model)
            span.set_attribute("fte.knowledge.k", k or 5)
            span.set_attribute("fte.knowledge.min_score", min_score)
            span.set_attribute("fte.knowledge.category", category.strip().lower())
            span.set_attribute("fte.knowledge.query_chars", len(query))
            (vector,) = await self.embedder.embed([query])
            outcome = await self.search_by_vector(query, vector, k or 5, min_score, category)
            span.set_attribute("fte.knowledge.hits", len(outcome.hits))
            span.set_attribute("fte.knowledge.articles", [h.article.slug for h in outcome.hits])
            return outcome

    async def search_by_vector(
        self, query: str, vector: Sequence[float], k: int, min_score: float, category: str
    ) -> SearchOutcome:
        """`search` with the query's vector already computed (and the arguments checked)."""
        candidates = await self.store.candidates(
            self.model, self.embedder.dimensions, vector, query, category.strip().lower(),
            search.CANDIDATES_PER_METHOD, await self._common_lexemes(),
        )
        ranked = search.rank(candidates, k, min_score)
        found = await self.store.found(
            [h.candidate.article_id for h in ranked], query, self.model) if ranked else {}
        # An article deleted between the two reads is left out.
        hits = [
            SearchHit(found[h.candidate.article_id][0], found[h.candidate.article_id][1],
                      h.score, h.candidate.vector_score, h.candidate.text_score)
            for h in ranked if h.candidate.article_id in found
        ]
        trace.get_current_span().set_attribute("fte.knowledge.candidates", len(candidates))
        return SearchOutcome(hits, self.model)
