"""gRPC servicers for fte.agent.v1.AgentService and fte.knowledge.v1.KnowledgeService.

Translation only: requests become domain calls (knowledge.KnowledgeBase, agent.SupportAgent),
results become responses. Domain code raises typed errors; the shared interceptor maps them.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.agent.v1 import agent_service_pb2_grpc as agent_grpc
from fte.common.v1 import channel_pb2
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as knowledge_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.agent import articles
from services.agent.agent import RespondInput, SupportAgent
from services.agent.knowledge import KnowledgeBase
from services.agent.knowledge_store import ArticleRow, KnowledgeStore
from services.agent.runtime import build_embedder, build_model
from services.agent.settings import AgentSettings
from services.common.db import open_pool
from services.common.errors import InvalidArgument
from services.common.grpc_client import open_channel
from services.common.grpc_server import Servicer

__all__ = ["AgentSettings", "build"]

log = logging.getLogger(__name__)


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
                    article_id=h.candidate.article.article_id,
                    slug=h.candidate.article.slug,
                    title=h.candidate.article.title,
                    category=h.candidate.article.category,
                    snippet=h.candidate.snippet,
                    score=h.score,
                    vector_score=h.candidate.vector_score,
                    text_score=h.candidate.text_score,
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
        if request.channel not in (
            channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_WHATSAPP, channel_pb2.CHANNEL_WEB_FORM
        ):
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
            )
        )
        return outcome.to_proto()


async def build(
    resources: contextlib.AsyncExitStack, settings: AgentSettings | None = None
) -> list[Servicer]:
    settings = settings or AgentSettings()
    embedder = await resources.enter_async_context(build_embedder(settings))
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    resources.push_async_callback(pool.close)
    kb = KnowledgeBase(KnowledgeStore(pool), embedder)
    # The agent's tools call Knowledge and Conversation over gRPC like any other client
    # (Knowledge is normally this very process), through channels this service owns.
    knowledge_channel = open_channel(settings.knowledge_addr, settings.rpc_timeout_s)
    conversation_channel = open_channel(settings.conversation_addr, settings.rpc_timeout_s)
    resources.push_async_callback(knowledge_channel.close)
    resources.push_async_callback(conversation_channel.close)
    model = await resources.enter_async_context(build_model(settings, embedder))
    agent = SupportAgent(settings, model, knowledge_channel, conversation_channel)
    return [
        Servicer(
            agent_grpc.add_AgentServiceServicer_to_server,
            AgentServicer(agent),
            "fte.agent.v1.AgentService",
        ),
        Servicer(
            knowledge_grpc.add_KnowledgeServiceServicer_to_server,
            KnowledgeServicer(kb),
            "fte.knowledge.v1.KnowledgeService",
        ),
    ]
