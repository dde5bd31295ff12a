"""With EMBEDDING_PROVIDER=openai the service embeds with text-embedding-3-small (here through
a local OpenAI-compatible server) and searches only those vectors; the MiniLM vectors stay
where they are and are used again when the local model is active. No search ever compares
vectors of two models."""

from __future__ import annotations

import functools
import uuid

import pytest
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc

from services.agent import server as agent_server
from services.common.grpc_client import open_channel
from services.common.grpc_server import running
from tests.agent_services import agent_settings


@pytest.fixture
async def openai_knowledge(seeded_knowledge, knowledge_dsn, conversation_address, fake_openai,
                           service_auth, admin_key):
    fake_openai.reset()
    settings = agent_settings(
        knowledge_dsn, conversation_address, embedding_provider="openai",
        openai_base_url=fake_openai.base_url, openai_api_key="sk-test", **service_auth("agent"),
    )
    async with running("knowledge-openai", settings,
                       functools.partial(agent_server.build, settings=settings)) as service:
        async with open_channel(f"127.0.0.1:{service.port}", timeout_s=30, credential=admin_key) as channel:
            yield kb_grpc.KnowledgeServiceStub(channel)


async def test_each_provider_searches_only_its_own_vectors(knowledge, openai_knowledge,
                                                          fake_openai, admin_db):
    slug = f"test-{uuid.uuid4().hex[:10]}"
    article = kb_pb.Article(slug=slug, title="Okapi boards", category="testing",
                            body="Okapi boards keep okapi cards in okapi lists.")
    try:
        local = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=article))
        # Same content, other model: it has no vector of that model yet, so it is embedded.
        remote = await openai_knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=article))
        again = await openai_knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=article))

        assert local.article.embedding_model == "all-MiniLM-L6-v2" and local.embedded
        assert remote.embedded and not remote.created
        assert remote.article.embedding_model == "text-embedding-3-small"
        assert not again.embedded
        rows = await admin_db.fetch(
            "SELECT model, dimensions FROM knowledge.article_embeddings WHERE article_id = $1 "
            "ORDER BY model", uuid.UUID(local.article.article_id))
        assert [(r["model"], r["dimensions"]) for r in rows] == [
            ("all-MiniLM-L6-v2", 384), ("text-embedding-3-small", 1536)]

        via_openai = await openai_knowledge.Search(kb_pb.SearchRequest(query="okapi boards", k=10))
        via_local = await knowledge.Search(kb_pb.SearchRequest(query="okapi boards", k=10))
        assert via_openai.embedding_model == "text-embedding-3-small"
        assert via_local.embedding_model == "all-MiniLM-L6-v2"
        assert via_openai.results[0].slug == slug and via_local.results[0].slug == slug
        # The seeded articles have MiniLM vectors only: under OpenAI they are found by their
        # words alone, never by comparing a 1536-d query with a 384-d article vector.
        assert all(r.vector_score == 0 for r in via_openai.results if r.slug != slug)
        assert any(r.vector_score > 0 for r in via_local.results if r.slug != slug)
        assert "okapi boards" in fake_openai.embedded_texts  # the query went to the provider
    finally:
        await knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=slug))
