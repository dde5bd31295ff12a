"""Support staff maintain the knowledge base with grpcurl: UpsertArticle, GetArticle,
ListArticles, DeleteArticle over real gRPC, stored in schema `knowledge`."""

from __future__ import annotations

import uuid

import grpc
import pytest
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb

from tests.running_services import rpc_error


def _article(slug: str, body: str, **kw) -> kb_pb.Article:
    fields = dict(slug=slug, title="Zebra boards for testing", category="testing", body=body)
    fields.update(kw)
    return kb_pb.Article(**fields)


@pytest.fixture
async def slug(knowledge):
    slug = f"test-{uuid.uuid4().hex[:10]}"
    yield slug
    try:
        await knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=slug))
    except grpc.aio.AioRpcError:
        pass


async def test_upsert_creates_embeds_and_get_finds_it_by_slug_or_id(knowledge, slug):
    created = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Zebra boards are striped.", tags=["zebra", "Stripes"])))

    assert created.created and created.embedded
    a = created.article
    assert a.article_id and a.slug == slug and len(a.content_hash) == 64
    assert a.embedding_model == "all-MiniLM-L6-v2"
    assert list(a.tags) == ["zebra", "stripes"]
    by_slug = await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=slug))
    by_id = await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=a.article_id))
    assert by_slug.article == by_id.article == a


async def test_unchanged_content_is_not_re_embedded(knowledge, slug, admin_db):
    first = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Zebra boards are striped.")))
    embedded_at = await admin_db.fetchval(
        "SELECT create_time FROM knowledge.article_embeddings WHERE article_id = $1",
        uuid.UUID(first.article.article_id))

    same = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Zebra boards are striped.")))
    tags_only = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Zebra boards are striped.", tags=["new-tag"])))

    assert not same.created and not same.embedded
    assert same.article.update_time == first.article.update_time
    assert not tags_only.embedded  # tags feed full-text search only
    assert tags_only.article.content_hash == first.article.content_hash
    assert await admin_db.fetchval(
        "SELECT create_time FROM knowledge.article_embeddings WHERE article_id = $1",
        uuid.UUID(first.article.article_id)) == embedded_at


async def test_changed_body_is_re_embedded_and_searchable_at_once(knowledge, slug, admin_db):
    await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Zebra boards are striped.")))
    changed = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(
        article=_article(slug, "Quokka boards smile in every photograph.")))

    assert changed.embedded and not changed.created
    stored_hash = await admin_db.fetchval(
        "SELECT content_hash FROM knowledge.article_embeddings WHERE article_id = $1",
        uuid.UUID(changed.article.article_id))
    assert stored_hash == changed.article.content_hash
    found = await knowledge.Search(kb_pb.SearchRequest(query="quokka photograph", k=1))
    assert found.results[0].slug == slug


async def test_list_pages_by_slug_and_filters_by_category(knowledge, slug):
    await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=_article(slug, "Zebra.")))
    seen, token = [], ""
    while True:
        page = await knowledge.ListArticles(kb_pb.ListArticlesRequest(page_size=50, page_token=token))
        assert len(page.articles) <= 50
        seen.extend(a.slug for a in page.articles)
        token = page.next_page_token
        if not token:
            break
    testing = await knowledge.ListArticles(kb_pb.ListArticlesRequest(category="testing"))

    assert seen == sorted(seen) and len(seen) == len(set(seen)) == page.total_size
    assert len(seen) >= 101 and slug in seen
    assert [a.slug for a in testing.articles] == [slug] and testing.total_size == 1


async def test_delete_removes_the_article_and_its_vectors(knowledge, slug, admin_db):
    created = await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=_article(slug, "Zebra.")))
    await knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=created.article.article_id))

    err = await rpc_error(knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=slug)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert await admin_db.fetchval(
        "SELECT count(*) FROM knowledge.article_embeddings WHERE article_id = $1",
        uuid.UUID(created.article.article_id)) == 0
    again = await rpc_error(knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=slug)))
    assert again.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "article, field",
    [
        (kb_pb.Article(slug="Has Spaces", title="t", category="c", body="b"), "article.slug"),
        (kb_pb.Article(slug="ok-slug", title=" ", category="c", body="b"), "article.title"),
        (kb_pb.Article(slug="ok-slug", title="t", category="", body="b"), "article.category"),
        (kb_pb.Article(slug="ok-slug", title="t", category="c", body=""), "article.body"),
    ],
)
async def test_upsert_with_a_bad_field_is_invalid_argument_naming_it(knowledge, article, field):
    err = await rpc_error(knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=article)))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith(field)


async def test_bad_page_token_is_invalid_argument(knowledge):
    err = await rpc_error(knowledge.ListArticles(kb_pb.ListArticlesRequest(page_token="nope")))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
