"""Hybrid search: vector similarity and PostgreSQL full-text rank, fused into one 0..1 score.

Fusion is a weighted sum of two scores that are each already on a 0..1 scale (cosine of unit
vectors, clamped at 0; ts_rank_cd normalised by rank/(rank+1)). Unlike reciprocal-rank fusion
the result stays comparable across queries, which is what `min_score` and the agent's
"nothing relevant" decision need: a question the base cannot answer scores low everywhere,
instead of its least-bad article coming out on top with a high rank score.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.knowledge.store import Candidate

# Meaning carries most of the weight (customers rarely use the article's words); exact terms
# (error codes, menu names, "SCIM") lift the article that really contains them.
VECTOR_WEIGHT = 0.7
TEXT_WEIGHT = 0.3
# Candidates read per method before fusing; enough that the best fused k are among them.
# The HNSW walk keeps twice as many (the knowledge role's hnsw.ef_search, 80:
# schema/knowledge/002_hnsw_search_width.sql): raise both together.
CANDIDATES_PER_METHOD = 40
# A query word found in more articles than this does not make an article a text candidate
# (it still counts in every candidate's text score). Ranking is per matching article, so this
# bounds the cost of the text side however large the base grows: at 10,000 articles a
# question's words matched a median 1,900 of them, and ranking those took most of a search.
# Below ~1,000 articles nothing is left out.
TEXT_MATCHES_PER_LEXEME = 200
# How long the list of such common words (from PostgreSQL's statistics) is reused: after an
# ANALYZE, searches keep the old list this long. Reading it costs ~0.5 ms at 10,000 articles.
# With 60 s, a base that grew from 141 to 10,000 articles was searched with the small base's
# empty list for up to a minute: every text side ranked a median 1,900 matches.
COMMON_LEXEMES_TTL_S = 5.0


@dataclass(frozen=True)
class Hit:
    candidate: Candidate
    score: float


def fused_score(c: Candidate) -> float:
    return VECTOR_WEIGHT * max(c.vector_score, 0.0) + TEXT_WEIGHT * max(c.text_score, 0.0)


def rank(candidates: list[Candidate], k: int, min_score: float) -> list[Hit]:
    """The k best candidates with a fused score of at least `min_score`, best first."""
    hits = [Hit(c, round(fused_score(c), 6)) for c in candidates]
    hits = [h for h in hits if h.score >= min_score]
    # Ties (rare) break on slug so results are stable between calls.
    hits.sort(key=lambda h: (-h.score, h.candidate.slug))
    return hits[:k]
