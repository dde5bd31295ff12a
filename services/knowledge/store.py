"""SQL for schema `knowledge` (articles, article_embeddings) and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.knowledge.articles import ArticleInput

# The embedding model an article reports: a current vector of the active model when there is
# one, else a current vector of any model, else none ("" in the API).
_ARTICLE_COLUMNS = """
    a.article_id, a.slug, a.title, a.category, a.body, a.tags, a.content_hash,
    a.create_time, a.update_time,
    (SELECT e.model FROM knowledge.article_embeddings e
      WHERE e.article_id = a.article_id AND e.content_hash = a.content_hash
      ORDER BY (e.model = $1) DESC, e.model LIMIT 1) AS embedding_model
"""


@dataclass(frozen=True)
class ArticleRow:
    article_id: str
    slug: str
    title: str
    category: str
    body: str
    tags: tuple[str, ...]
    content_hash: str
    embedding_model: str
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Candidate:
    """An article found by vector or text search, with both raw scores."""

    article: ArticleRow
    vector_score: float  # cosine similarity, -1..1 (0 when the article has no current vector)
    text_score: float  # ts_rank_cd, normalised to 0..1
    snippet: str


def _row(r: asyncpg.Record) -> ArticleRow:
    return ArticleRow(
        article_id=str(r["article_id"]),
        slug=r["slug"],
        title=r["title"],
        category=r["category"],
        body=r["body"],
        tags=tuple(r["tags"]),
        content_hash=r["content_hash"],
        embedding_model=r["embedding_model"] or "",
        create_time=r["create_time"],
        update_time=r["update_time"],
    )


def _vector_literal(vector: Sequence[float]) -> str:
    # pgvector's text form; avoids registering a codec on every pooled connection.
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key_clause(key: str, param: str) -> str:
    """Articles are addressed by UUID or by slug."""
    try:
        uuid.UUID(key)
    except ValueError:
        return f"a.slug = {param}"
    return f"a.article_id = {param}::uuid"


class KnowledgeStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, key: str, active_model: str) -> ArticleRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_ARTICLE_COLUMNS} FROM knowledge.articles a WHERE {_key_clause(key, '$2')}",
            active_model, key,
        )
        return _row(row) if row else None

    async def list(
        self, active_model: str, page_size: int, after_slug: str, category: str
    ) -> tuple[list[ArticleRow], int]:
        """One page ordered by slug (keyset: stable while articles are added or removed)."""
        rows = await self._pool.fetch(
            f"""SELECT {_ARTICLE_COLUMNS} FROM knowledge.articles a
                WHERE a.slug > $2 AND ($3 = '' OR a.category = $3)
                ORDER BY a.slug LIMIT $4""",
            active_model, after_slug, category, page_size,
        )
        total = await self._pool.fetchval(
            "SELECT count(*) FROM knowledge.articles WHERE $1 = '' OR category = $1", category
        )
        return [_row(r) for r in rows], int(total)

    async def delete(self, key: str) -> bool:
        """Deletes an article; its embeddings go with it (ON DELETE CASCADE)."""
        status = await self._pool.execute(
            f"DELETE FROM knowledge.articles a WHERE {_key_clause(key, '$1')}", key
        )
        return status.endswith(" 1")

    async def freshness(self, slugs: Sequence[str], model: str) -> dict[str, tuple[str, bool]]:
        """slug -> (stored content hash, whether a vector of `model` for that content exists)."""
        rows = await self._pool.fetch(
            """SELECT a.slug, a.content_hash,
                      EXISTS (SELECT 1 FROM knowledge.article_embeddings e
                               WHERE e.article_id = a.article_id AND e.model = $2
                                 AND e.content_hash = a.content_hash) AS embedded
               FROM knowledge.articles a WHERE a.slug = ANY($1::text[])""",
            list(slugs), model,
        )
        return {r["slug"]: (r["content_hash"], r["embedded"]) for r in rows}

    async def write(
        self,
        article: ArticleInput,
        model: str,
        embedding: Sequence[float] | None,
    ) -> tuple[ArticleRow, bool]:
        """Creates or replaces the article by slug, storing `embedding` (computed from exactly
        this content) when given. Returns the stored row and whether it was created."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO knowledge.articles AS a
                       (slug, title, category, body, tags, content_hash)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (slug) DO UPDATE
                      SET title = EXCLUDED.title, category = EXCLUDED.category,
                          body = EXCLUDED.body, tags = EXCLUDED.tags,
                          content_hash = EXCLUDED.content_hash, update_time = now()
                    WHERE (a.title, a.category, a.body, a.tags)
                          IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.category,
                                            EXCLUDED.body, EXCLUDED.tags)
                   RETURNING a.article_id, (xmax = 0) AS created""",
                article.slug, article.title, article.category, article.body,
                list(article.tags), article.content_hash,
            )
            if row is None:  # identical row already there: nothing was written
                article_id = await conn.fetchval(
                    "SELECT article_id FROM knowledge.articles WHERE slug = $1", article.slug
                )
                created = False
            else:
                article_id, created = row["article_id"], row["created"]
            # Vectors of older content (of any model) can never be right again.
            await conn.execute(
                """DELETE FROM knowledge.article_embeddings
                    WHERE article_id = $1 AND content_hash <> $2""",
                article_id, article.content_hash,
            )
            if embedding is not None:
                await conn.execute(
                    """INSERT INTO knowledge.article_embeddings
                           (article_id, model, dimensions, content_hash, embedding)
                       VALUES ($1, $2, $3, $4, $5::vector)
                       ON CONFLICT (article_id, model) DO UPDATE
                          SET dimensions = EXCLUDED.dimensions,
                              content_hash = EXCLUDED.content_hash,
                              embedding = EXCLUDED.embedding, create_time = now()""",
                    article_id, model, len(embedding), article.content_hash,
                    _vector_literal(embedding),
                )
            stored = await conn.fetchrow(
                f"SELECT {_ARTICLE_COLUMNS} FROM knowledge.articles a WHERE a.article_id = $2",
                model, article_id,
            )
        return _row(stored), bool(created)

    async def candidates(
        self,
        model: str,
        dimensions: int,
        query_vector: Sequence[float],
        query_text: str,
        category: str,
        per_method: int,
    ) -> list[Candidate]:
        """The union of the nearest articles by vector and the best by full-text rank, each
        with both scores, so the caller can fuse them.

        Only vectors of `model` computed from the article's current content are read. The model
        name and dimension are SQL literals (they come from code, not from requests) so the
        planner can match the model's partial HNSW index.
        """
        vec = f"e.embedding::vector({int(dimensions)})"
        qvec = f"$1::vector({int(dimensions)})"
        rows = await self._pool.fetch(
            f"""
            WITH q AS (
                -- The query's lexemes OR-ed: a question rarely contains every word of the
                -- article that answers it; ts_rank_cd still rewards covering more of them.
                SELECT (SELECT string_agg(quote_literal(l), ' | ')
                          FROM unnest(tsvector_to_array(to_tsvector('english', $2))) l
                       )::tsquery AS tsq
            ),
            by_vector AS (
                SELECT e.article_id
                  FROM knowledge.article_embeddings e
                  JOIN knowledge.articles a USING (article_id)
                 WHERE e.model = {_sql_literal(model)}
                   AND e.content_hash = a.content_hash
                   AND ($3 = '' OR a.category = $3)
                 ORDER BY {vec} <=> {qvec}
                 LIMIT $4
            ),
            by_text AS (
                SELECT a.article_id
                  FROM knowledge.articles a, q
                 WHERE a.search_tsv @@ q.tsq AND ($3 = '' OR a.category = $3)
                 ORDER BY ts_rank_cd(a.search_tsv, q.tsq, 1) DESC
                 LIMIT $4
            ),
            found AS (SELECT article_id FROM by_vector UNION SELECT article_id FROM by_text)
            SELECT {_ARTICLE_COLUMNS.replace("$1", "$5")},
                   coalesce(1 - ({vec} <=> {qvec}), 0) AS vector_score,
                   -- flag 1 damps long bodies (rank / (1 + log length)), flag 32 maps the
                   -- rank into 0..1 (rank / (rank + 1)).
                   coalesce(ts_rank_cd(a.search_tsv, q.tsq, 1 | 32), 0) AS text_score,
                   ts_headline('english', a.body, coalesce(q.tsq, ''::tsquery),
                       'MaxFragments=1, MinWords=12, MaxWords=35, StartSel="", StopSel="",
                        FragmentDelimiter=" … "') AS snippet
              FROM found
              JOIN knowledge.articles a USING (article_id)
              CROSS JOIN q
              LEFT JOIN knowledge.article_embeddings e
                     ON e.article_id = a.article_id AND e.model = {_sql_literal(model)}
                    AND e.content_hash = a.content_hash
            """,
            _vector_literal(query_vector), query_text, category, per_method, model,
        )
        return [
            Candidate(
                article=_row(r),
                vector_score=float(r["vector_score"]),
                text_score=float(r["text_score"]),
                snippet=" ".join(r["snippet"].split()),
            )
            for r in rows
        ]
