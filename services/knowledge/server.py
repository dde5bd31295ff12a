"""gRPC servicer for fte.knowledge.v1.KnowledgeService.

Translation only: requests become calls on base.KnowledgeBase, results become responses.
Domain code raises typed errors; the shared interceptor maps them.
"""

from __future__ import annotations

import contextlib

from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as knowledge_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.db import owned_pool
from services.common.errors import InvalidArgument
from services.common.grpc_server import Servicer
from services.knowledge import articles
from services.knowledge.base import KnowledgeBase
from services.knowledge.embeddings import Embedder, build_embedder
from services.knowledge.settings import KnowledgeSettings
from services.knowledge.store import ArticleRow, KnowledgeStore

__all__ = ["KnowledgeSettings", "build"]


def _ts(dt) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


def article_pb(row: ArticleRow) -> kb_pb.Article:
    return kb_pb.Article(
        article_id=row.article_id,
        slug=row.slug,
        title=row.title,
        category=row.category,
        body=row.body,
        content_hash=row.content_hash,
        embedding_model=row.embedding_model,
        create_time=_ts(row.create_time),
        update_time=_ts(row.update_time),
        tags=list(row.tags),
    )


class KnowledgeServicer(knowledge_grpc.KnowledgeServiceServicer):
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    async def Search(self, request: kb_pb.SearchRequest, context) -> kb_pb.SearchResponse:
        outcome = await self.kb.search(
            request.query, request.k, request.min_score, request.category
        )
        return kb_pb.SearchResponse(
            embedding_model=outcome.model,
            results=[
                kb_pb.SearchResult(
                    article_id=h.article.article_id,
                    slug=h.article.slug,
                    title=h.article.title,
                    category=h.article.category,
                    snippet=h.snippet,
                    score=h.score,
                    vector_score=h.vector_score,
                    text_score=h.text_score,
                    article=article_pb(h.article) if request.include_article else None,
                )
                for h in outcome.hits
            ],
        )

    async def UpsertArticle(self, request, context) -> kb_pb.UpsertArticleResponse:
        if not request.HasField("article"):
            raise InvalidArgument("article: required (slug, title, category, body)")
        a = request.article
        outcome = await self.kb.upsert(
            articles.validated(a.slug, a.title, a.category, a.body, list(a.tags))
        )
        return kb_pb.UpsertArticleResponse(
            article=article_pb(outcome.article),
            created=outcome.created,
            embedded=outcome.embedded,
        )

    async def GetArticle(self, request, context) -> kb_pb.GetArticleResponse:
        return kb_pb.GetArticleResponse(article=article_pb(await self.kb.get(request.article_id)))

    async def ListArticles(self, request, context) -> kb_pb.ListArticlesResponse:
        rows, next_token, total = await self.kb.list(
            request.page_size, request.page_token, request.category
        )
        return kb_pb.ListArticlesResponse(
            articles=[article_pb(r) for r in rows], next_page_token=next_token, total_size=total
        )

    async def DeleteArticle(self, request, context) -> kb_pb.DeleteArticleResponse:
        await self.kb.delete(request.article_id)
        return kb_pb.DeleteArticleResponse()


async def build(
    resources: contextlib.AsyncExitStack,
    settings: KnowledgeSettings | None = None,
    embedder: Embedder | None = None,
) -> list[Servicer]:
    """The knowledge servicer on its own pool; `embedder` shares a process's embedder (the
    agent's), else one is built from the settings."""
    settings = settings or KnowledgeSettings()
    if embedder is None:
        embedder = await resources.enter_async_context(build_embedder(settings))
    pool = await owned_pool(resources, settings, "knowledge", session_state=False)
    return [
        Servicer(
            knowledge_grpc.add_KnowledgeServiceServicer_to_server,
            KnowledgeServicer(KnowledgeBase(KnowledgeStore(pool), embedder)),
            "fte.knowledge.v1.KnowledgeService",
        )
    ]
