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

    article_id: str
    slug: str
    vector_score: float  # cosine similarity, -1..1 (0 when the article has no current vector)
    text_score: float  # ts_rank_cd, normalised to 0..1


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


def _any_of(lexemes: str, where: str = "") -> str:
    """SQL for the tsquery matching any of `lexemes` (an SQL text[] expression), those `where`
    keeps: `'a' | 'b' | ...`, each quoted, so no word of the query is read as an operator."""
    keep = f" WHERE {where}" if where else ""
    return f"(SELECT string_agg(quote_literal(l), ' | ') FROM unnest({lexemes}) l{keep})::tsquery"


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
        common_lexemes: Sequence[str] = (),
    ) -> list[Candidate]:
        """The union of the `per_method` nearest articles by vector and the best by full-text
        rank, each with both scores (over the whole query), for the caller to fuse.

        Each side reads its own index. Vectors: the model's partial HNSW index (model name and
        dimension are SQL literals — they come from code, not requests — so the planner can
        match it), ordered by distance and cut at the limit before anything is joined; a
        category filter instead scans that category's vectors exactly, since filtering an
        approximate top-k afterwards could leave nothing. Text: the GIN index, with the
        query's `common_lexemes` left out of the match (a word in most articles would make
        every article a candidate to rank; it still counts in the score), the matches ordered
        by ts_rank, which costs a third of ts_rank_cd per article and chose the same
        candidates on the labelled questions. Only the candidates get the full scores.
        """
        vec = f"e.embedding::vector({int(dimensions)})"
        qvec = f"$1::vector({int(dimensions)})"
        if category:
            by_vector = f"""
                SELECT e.article_id FROM knowledge.article_embeddings e
                  JOIN knowledge.articles a USING (article_id)
                 WHERE e.model = {_sql_literal(model)} AND a.category = $3
                 ORDER BY {vec} <=> {qvec} LIMIT $4"""
        else:
            by_vector = f"""
                SELECT e.article_id FROM knowledge.article_embeddings e
                 WHERE e.model = {_sql_literal(model)}
                 ORDER BY {vec} <=> {qvec} LIMIT $4"""
        rows = await self._pool.fetch(
            f"""
            WITH q AS (
                -- The query's lexemes OR-ed: a question rarely contains every word of the
                -- article that answers it; ts_rank_cd still rewards covering more of them.
                SELECT {_any_of("lexemes")} AS tsq,
                       {_any_of("lexemes", "l <> ALL($5::text[])")} AS match
                  FROM tsvector_to_array(to_tsvector('english', $2)) AS lexemes
            ),
            by_vector AS MATERIALIZED ({by_vector}),
            by_text AS MATERIALIZED (
                SELECT a.article_id
                  FROM knowledge.articles a, q
                 WHERE a.search_tsv @@ q.match AND ($3 = '' OR a.category = $3)
                 ORDER BY ts_rank(a.search_tsv, q.match, 1) DESC
                 LIMIT $4
            ),
            found AS (SELECT article_id FROM by_vector UNION SELECT article_id FROM by_text)
            SELECT a.article_id, a.slug,
                   coalesce(1 - ({vec} <=> {qvec}), 0) AS vector_score,
                   -- flag 1 damps long bodies (rank / (1 + log length)), flag 32 maps the
                   -- rank into 0..1 (rank / (rank + 1)).
                   coalesce(ts_rank_cd(a.search_tsv, q.tsq, 1 | 32), 0) AS text_score
              FROM found
              JOIN knowledge.articles a USING (article_id)
              CROSS JOIN q
              LEFT JOIN knowledge.article_embeddings e
                     ON e.article_id = a.article_id AND e.model = {_sql_literal(model)}
                    AND e.content_hash = a.content_hash
             WHERE $3 = '' OR a.category = $3
            """,
            _vector_literal(query_vector), query_text, category, per_method, list(common_lexemes),
        )
        return [
            Candidate(str(r["article_id"]), r["slug"], float(r["vector_score"]), float(r["text_score"]))
            for r in rows
        ]

    async def found(
        self, article_ids: Sequence[str], query_text: str, active_model: str
    ) -> dict[str, tuple[ArticleRow, str]]:
        """article id -> (the article, its passage that best matches the query): for the few
        articles a search returns, not for every candidate (ts_headline reads the body)."""
        rows = await self._pool.fetch(
            f"""
            WITH q AS (
                SELECT {_any_of("tsvector_to_array(to_tsvector('english', $3))")} AS tsq
            )
            SELECT {_ARTICLE_COLUMNS},
                   ts_headline('english', a.body, coalesce(q.tsq, ''::tsquery),
                       'MaxFragments=1, MinWords=12, MaxWords=35, StartSel="", StopSel="",
                        FragmentDelimiter=" … "') AS snippet
              FROM knowledge.articles a CROSS JOIN q
             WHERE a.article_id = ANY($2::uuid[])
            """,
            active_model, list(article_ids), query_text,
        )
        return {str(r["article_id"]): (_row(r), " ".join(r["snippet"].split())) for r in rows}

    async def common_lexemes(self, max_matches: int) -> list[str]:
        """The lexemes PostgreSQL's statistics (ANALYZE, run by autovacuum as the table
        changes) count in more than `max_matches` articles; none before the first ANALYZE."""
        rows = await self._pool.fetch(
            """SELECT m.lexeme
                 FROM pg_stats s,
                      unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs)
                          AS m(lexeme, share)
                WHERE s.schemaname = 'knowledge' AND s.tablename = 'articles'
                  AND s.attname = 'search_tsv' AND m.lexeme IS NOT NULL
                  AND m.share * (SELECT reltuples FROM pg_class
                                  WHERE oid = 'knowledge.articles'::regclass) > $1""",
            max_matches,
        )
        return [r["lexeme"] for r in rows]
