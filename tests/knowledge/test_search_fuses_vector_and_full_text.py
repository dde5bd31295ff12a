"""Search over real gRPC and PostgreSQL: hybrid (pgvector cosine + ts_rank_cd), fused into
one 0..1 score, with article id, title, snippet and both component scores."""

from __future__ import annotations

import grpc
import pytest
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb

from tests.running_services import rpc_error


async def _search(knowledge, query, **kw) -> kb_pb.SearchResponse:
    return await knowledge.Search(kb_pb.SearchRequest(query=query, **kw))


async def test_search_returns_the_answering_article_with_id_title_snippet_and_score(knowledge):
    reply = await _search(knowledge, "Why does the API answer 401?", k=3)

    top = reply.results[0]
    assert top.slug == "api-401-unauthorized"
    assert top.article_id and top.title == "Why does the API return HTTP 401?"
    assert "Bearer" in top.snippet or "401" in top.snippet
    assert 0 < top.score <= 1
    assert [r.score for r in reply.results] == sorted((r.score for r in reply.results), reverse=True)
    assert reply.embedding_model == "all-MiniLM-L6-v2"


async def test_exact_terms_rank_through_full_text(knowledge):
    # A header name: the words only match literally, and the text rank says so.
    reply = await _search(knowledge, "X-Flowboard-Signature", k=3)

    assert reply.results[0].slug in {"webhook-signature", "webhooks"}
    assert reply.results[0].text_score > 0


async def test_paraphrase_without_shared_words_is_found_by_meaning(knowledge):
    # None of these words is in the article ("Which browsers are supported?").
    reply = await _search(knowledge, "does it run in my chrome or firefox", k=3)
    by_slug = {r.slug: r for r in reply.results}

    assert "supported-browsers" in by_slug
    assert by_slug["supported-browsers"].vector_score > 0.4


async def test_fused_score_weighs_both_signals(knowledge):
    reply = await _search(knowledge, "how long is the password reset link valid", k=5)

    for r in reply.results:
        assert r.score == pytest.approx(0.7 * max(r.vector_score, 0) + 0.3 * r.text_score, abs=1e-4)
    assert reply.results[0].slug in {"password-reset", "reset-link-expired"}


async def test_min_score_k_and_category_filter_results(knowledge):
    everything = await _search(knowledge, "invoices", k=10)
    threshold = everything.results[2].score
    strict = await _search(knowledge, "invoices", k=10, min_score=threshold)
    billing_only = await _search(knowledge, "invoices", k=10, category="billing")
    two = await _search(knowledge, "invoices", k=2)

    assert [r.slug for r in strict.results] == [
        r.slug for r in everything.results if r.score >= threshold
    ]
    assert {r.category for r in billing_only.results} == {"billing"}
    assert len(two.results) == 2


async def test_a_question_the_base_cannot_answer_scores_low(knowledge):
    reply = await _search(knowledge, "What's the weather in Lisbon tomorrow?", k=3, min_score=0.45)

    assert list(reply.results) == []


@pytest.mark.parametrize(
    "request_kw, field",
    [({"query": "   "}, "query"), ({"query": "x", "k": 51}, "k"), ({"query": "x", "k": -1}, "k"),
     ({"query": "x", "min_score": 1.5}, "min_score")],
)
async def test_bad_search_requests_are_invalid_argument(knowledge, request_kw, field):
    err = await rpc_error(knowledge.Search(kb_pb.SearchRequest(**request_kw)))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith(field)


async def test_vector_search_can_use_the_models_hnsw_cosine_index(knowledge, admin_db):
    indexes = await admin_db.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'knowledge' "
        "AND tablename = 'article_embeddings' AND indexdef ILIKE '%hnsw%'"
    )
    assert any("vector_cosine_ops" in r["indexdef"] and "all-MiniLM-L6-v2" in r["indexdef"]
               for r in indexes)

    # For 141 rows the planner prefers scanning and sorting; forbidding that shows the query
    # shape search uses matches the partial index (same cast, same model literal).
    async with admin_db.transaction():
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await admin_db.execute(f"SET LOCAL {setting} = off")
        vector = "[" + ",".join(["0.05"] * 384) + "]"
        plan = "\n".join(r[0] for r in await admin_db.fetch(
            "EXPLAIN SELECT article_id FROM knowledge.article_embeddings e "
            "WHERE e.model = 'all-MiniLM-L6-v2' "
            f"ORDER BY e.embedding::vector(384) <=> '{vector}'::vector(384) LIMIT 40"
        ))
    assert "article_embeddings_minilm_hnsw" in plan


async def test_include_article_returns_each_whole_article_with_its_result(knowledge):
    bare = await _search(knowledge, "Why does the API answer 401?", k=2)
    whole = await _search(knowledge, "Why does the API answer 401?", k=2, include_article=True)

    assert [r.slug for r in whole.results] == [r.slug for r in bare.results]
    assert not any(r.HasField("article") for r in bare.results)
    for r in whole.results:
        stored = await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=r.article_id))
        assert r.article == stored.article
    assert "Bearer" in whole.results[0].article.body
