"""Figure 3: KnowledgeService.Search latency over gRPC (the agent process, as the agent's own
tool calls it: k=3, min_score=0.42) with the real knowledge base, then with it grown to
10,000 articles.

The extra articles are synthetic but built from the real ones (same categories, vocabulary
and about the same length: some of a real article's sentences, sometimes one sentence of
another article of its category, one sentence placing it in a product context), deterministic, and written through
`KnowledgeBase.upsert_many` (the seed command's path) with real all-MiniLM-L6-v2 vectors.

Embedding ~9,900 texts on 2 shared cores takes minutes, so vectors are cached by
sha256(model, text) in `.cache/bench/` (git-ignored): the first run embeds and fills the
cache; later runs read exactly the vectors the embedder produced for exactly these texts and
only pay the database writes. `--no-embedding-cache` recomputes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc

from devstack import REPO_ROOT
from devstack.migrate import service_dsn
from services.knowledge import search as search_mod
from services.knowledge.articles import ArticleInput, load_directory, validated
from services.knowledge.embeddings import BULK_THREADS, LOCAL_DIMENSIONS, LOCAL_MODEL, LocalEmbedder
from services.knowledge.base import KnowledgeBase
from services.knowledge.store import KnowledgeStore, _vector_literal
from services.knowledge.settings import KNOWLEDGE_BASE_DIR
from services.agent.tools import SEARCH_RESULTS
from services.common.db import open_pool
from services.common.grpc_client import open_channel
from tests.bench.end_to_end import TICKETS
from tests.bench.stats import box_busy_seconds, percentile, progress

CACHE_DIR = REPO_ROOT / ".cache" / "bench"
MIN_SCORE = 0.42  # AgentSettings.knowledge_min_score: what the agent's search tool sends
WRITERS = 4  # concurrent upsert batches (the store writes one transaction per article)
BATCH = 64

_CONTEXTS = [
    "on the iOS app", "on the Android app", "in the desktop app for Windows",
    "in the desktop app for macOS", "in the web app", "for workspace admins", "for guests",
    "for board owners", "after upgrading to Business", "on the Enterprise plan",
    "on the Free plan", "during a trial", "with SAML SSO enabled", "with SCIM provisioning",
    "in an EU data-residency workspace", "in a US data-residency workspace",
    "for a new team member", "in a shared board", "in a private board",
    "after a plan downgrade", "when using the REST API", "with the Slack integration",
    "with the Google Drive integration", "with the GitHub integration",
    "for a nonprofit workspace", "in a workspace with hundreds of members",
    "on a slow or unreliable connection", "behind a corporate proxy", "in offline mode",
    "after changing the workspace owner", "for an education workspace",
    "with two-factor authentication turned on",
]
_NOTES = [
    "ask your workspace admin if the option is greyed out",
    "changes reach every device within a minute",
    "the same steps work from the keyboard with the command menu",
    "an audit-log entry is written for every change",
    "guests see the result only on boards shared with them",
    "nothing changes for members who are already signed in",
    "reload the page if the menu does not show the new option yet",
    "the activity feed of the board records who made the change",
    "this does not affect billing or the number of seats",
    "the setting is per workspace, not per board",
    "mobile apps need the latest version from the app store",
    "notifications follow each member's own preferences",
]
_TITLE_FORMS = ["{t} {c}", "{t} ({c})", "Troubleshooting: {t} {c}", "FAQ: {t} {c}",
                "Step by step: {t} {c}", "Quick answer: {t} {c}"]
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _sentences(body: str) -> list[str]:
    return [s for s in _SENTENCE.split(" ".join(body.split())) if s]


def synthetic_articles(real: Sequence[ArticleInput], total: int, seed: int = 10_000
                       ) -> list[ArticleInput]:
    """`total - len(real)` varied articles derived from the real ones, deterministic.

    Each real article gets an equal share, and the j-th variant of an article draws from its
    own generator seeded with (seed, slug, j): editing, adding or removing one real article
    changes only the variants built from it (or from its category), so the embedding cache
    stays warm while the knowledge base evolves."""
    by_category: dict[str, list[ArticleInput]] = {}
    for a in real:
        by_category.setdefault(a.category, []).append(a)
    per_article, remainder = divmod(max(0, total - len(real)), len(real))
    out = []
    for k, base in enumerate(real):
        for j in range(per_article + (k < remainder)):
            rng = random.Random(f"{seed}:{base.slug}:{j}")
            donor = rng.choice(by_category[base.category])
            context, note = rng.choice(_CONTEXTS), rng.choice(_NOTES)
            sentences = _sentences(base.body)
            keep = sentences[: rng.randint(1, len(sentences))]
            extra = rng.choice(_sentences(donor.body)) if rng.random() < 0.4 else ""
            release = f"{rng.randint(2, 5)}.{rng.randint(0, 30)}"
            body = " ".join(s for s in [
                *keep,
                extra if extra not in keep else "",
                f"Applies {context} (release {release}); {note}.",
            ] if s)
            title = rng.choice(_TITLE_FORMS).format(t=base.title.rstrip("?"), c=context)
            out.append(validated(
                f"{base.slug[:100]}-x{j:04d}", title[:300], base.category, body,
                [*base.tags, context.split()[-1]],
            ))
    return out


class CachedEmbedder:
    """The real local embedder behind a content-addressed cache of its vectors. The cache
    keeps the most recently used entries (about 1.8 kB each), so edits of the knowledge
    base do not grow it without bound."""

    model = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS
    max_entries = 20_000

    def __init__(self, path: Path, use_cache: bool = True) -> None:
        self.path = path
        self.use_cache = use_cache
        self._vectors: dict[str, np.ndarray] = {}
        self._real = LocalEmbedder(threads=BULK_THREADS)
        self._runs_on = self._real.runs_on()  # bfloat16 vectors are not float32's: keyed apart
        self.embedded = 0
        self.embed_seconds = 0.0
        if use_cache and path.exists():
            with np.load(path) as data:
                self._vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{LOCAL_MODEL}\0{self._runs_on}\0{text}".encode()).hexdigest()

    def save(self) -> None:
        if not self.use_cache or not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)[-self.max_entries :]  # least recently used first
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))
        tmp.replace(self.path)

    def missing(self, texts: Sequence[str]) -> list[str]:
        return list(dict.fromkeys(t for t in texts if self.key(t) not in self._vectors))

    async def fill(self, texts: Sequence[str], chunk: int = 256) -> None:
        """Embeds what the cache lacks, with progress and an ETA, saving as it goes."""
        todo = self.missing(texts)
        if not todo:
            return
        progress("search", f"embedding {len(todo)} texts not in {self.path.name} "
                           f"(real all-MiniLM-L6-v2 on the CPU)")
        started = time.monotonic()
        for start in range(0, len(todo), chunk):
            batch = todo[start : start + chunk]
            t0 = time.monotonic()
            vectors = await self._real.embed(batch)
            self.embed_seconds += time.monotonic() - t0
            for text, vec in zip(batch, vectors, strict=True):
                self._vectors[self.key(text)] = np.asarray(vec, dtype=np.float32)
            self.embedded += len(batch)
            done = start + len(batch)
            rate = done / (time.monotonic() - started)
            progress("search", f"embedded {done}/{len(todo)}  {rate:.0f} texts/s  "
                               f"ETA {(len(todo) - done) / rate:.0f}s")
            if done % (chunk * 8) == 0:
                self.save()
        self.save()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.fill(texts)
        out = []
        for t in texts:
            k = self.key(t)
            self._vectors[k] = vector = self._vectors.pop(k)  # most recently used: last
            out.append(vector.tolist())
        return out


def queries() -> list[str]:
    """What customers actually ask: the eval tickets' messages (non-empty)."""
    out = []
    for line in TICKETS.read_text().splitlines():
        text = " ".join(json.loads(line)["message"].split())
        if text:
            out.append(text[:2000])
    return out


EVAL_DIR = REPO_ROOT / "tests" / "agent" / "eval"
# The labelled sets (services/agent/eval.py): the development sets the search was tuned on,
# and the blind sets nobody tuned on.
LABELLED = {"dev": ["tickets", "holdout", "fresh", "fresh2"],
            "blind": ["blind", "blind3", "blind4"]}


def labelled(kind: str) -> list[tuple[str, frozenset[str]]]:
    """(query, expected article slugs) as the eval asks it: subject and message."""
    out = []
    for name in LABELLED[kind]:
        for line in (EVAL_DIR / f"{name}.jsonl").read_text().splitlines():
            t = json.loads(line)
            if t.get("expect_articles"):
                q = f"{t['subject']}. {t['message']}" if t["subject"] else t["message"]
                out.append((" ".join(q.split())[:2000], frozenset(t["expect_articles"])))
    return out


# The search query as it was before issue 18 (services/knowledge/store.py at abeaff2), kept
# to be measured beside today's: the vector side joined the articles before ordering, so the
# planner scanned every vector exactly; the text side ranked every article sharing any word
# with the question; every candidate's snippet was computed.
BEFORE_SQL = f"""
    WITH q AS (
        SELECT (SELECT string_agg(quote_literal(l), ' | ')
                  FROM unnest(tsvector_to_array(to_tsvector('english', $2))) l)::tsquery AS tsq
    ),
    by_vector AS (
        SELECT e.article_id FROM knowledge.article_embeddings e
          JOIN knowledge.articles a USING (article_id)
         WHERE e.model = '{LOCAL_MODEL}' AND e.content_hash = a.content_hash
         ORDER BY e.embedding::vector({LOCAL_DIMENSIONS}) <=> $1::vector({LOCAL_DIMENSIONS})
         LIMIT $3
    ),
    by_text AS (
        SELECT a.article_id FROM knowledge.articles a, q
         WHERE a.search_tsv @@ q.tsq ORDER BY ts_rank_cd(a.search_tsv, q.tsq, 1) DESC LIMIT $3
    ),
    found AS (SELECT article_id FROM by_vector UNION SELECT article_id FROM by_text)
    SELECT a.article_id, a.slug, a.title, a.category, a.body, a.tags, a.content_hash,
           a.create_time, a.update_time,
           coalesce(1 - (e.embedding::vector({LOCAL_DIMENSIONS})
                         <=> $1::vector({LOCAL_DIMENSIONS})), 0) AS vector_score,
           coalesce(ts_rank_cd(a.search_tsv, q.tsq, 1 | 32), 0) AS text_score,
           ts_headline('english', a.body, coalesce(q.tsq, ''::tsquery),
               'MaxFragments=1, MinWords=12, MaxWords=35, StartSel="", StopSel="",
                FragmentDelimiter=" … "') AS snippet
      FROM found JOIN knowledge.articles a USING (article_id) CROSS JOIN q
      LEFT JOIN knowledge.article_embeddings e
             ON e.article_id = a.article_id AND e.model = '{LOCAL_MODEL}'
            AND e.content_hash = a.content_hash
"""


async def search_before(pool, query: str, vector, k: int, min_score: float) -> list[str]:
    """The slugs the search before issue 18 returned (same fused score, same order)."""
    rows = await pool.fetch(BEFORE_SQL, _vector_literal(vector), query,
                            search_mod.CANDIDATES_PER_METHOD)
    scored = sorted(((round(search_mod.VECTOR_WEIGHT * max(r["vector_score"], 0)
                            + search_mod.TEXT_WEIGHT * max(r["text_score"], 0), 6), r["slug"])
                     for r in rows), key=lambda x: (-x[0], x[1]))
    return [slug for score, slug in scored if score >= min_score][:k]


@dataclass
class HitRate:
    """Share of labelled questions with an expected article in the top 3."""

    questions: int
    after: float
    before: float


@dataclass
class SearchResult:
    articles: int
    calls: int
    grpc_s: list[float]
    sql_s: list[float]  # today's query (candidates, fusion, the winners' snippets)
    before_s: list[float]  # the query before issue 18, same questions
    empty: int  # searches with no hit above min_score
    box_busy: float  # cores the whole machine was busy during the gRPC searches
    hit_at_3: dict[str, HitRate] = field(default_factory=dict)  # "dev", "blind"

    @property
    def p50(self) -> float:
        return percentile(self.grpc_s, 50)

    @property
    def p95(self) -> float:
        return percentile(self.grpc_s, 95)


async def _hit_at_3(kb: KnowledgeBase, pool, embedder: CachedEmbedder) -> dict[str, HitRate]:
    out = {}
    for kind in LABELLED:
        questions = labelled(kind)
        vectors = await embedder.embed([q for q, _ in questions])
        after = before = 0
        for (q, expected), v in zip(questions, vectors, strict=True):
            found = await kb.search_by_vector(q, v, SEARCH_RESULTS, 0.0, "")
            after += any(h.article.slug in expected for h in found.hits)
            before += any(s in expected for s in await search_before(pool, q, v, SEARCH_RESULTS, 0.0))
        out[kind] = HitRate(len(questions), after / len(questions), before / len(questions))
    return out


async def measure_search(agent_addr: str, store: KnowledgeStore, embedder: CachedEmbedder,
                         calls: int, warmup: int = 10, *, api_key: str) -> SearchResult:
    """Sequential Search calls through gRPC; then the same queries' SQL alone, straight on
    the store (today's and the one before issue 18), to split the database's share from the
    query embedding and the RPC; then hit@3 on the labelled questions, today's and before."""
    # Every call a text of its own: the service remembers the vectors of texts it embedded
    # recently, and a repeated question would measure that memory, not the search.
    pool = store._pool
    total = await pool.fetchval("SELECT count(*) FROM knowledge.articles")
    base = queries()
    qs = [f"{base[i % len(base)]} (#{total}.{i})" for i in range(warmup + calls)]
    channel = open_channel(agent_addr, 30, api_key)
    stub = kb_grpc.KnowledgeServiceStub(channel)
    grpc_s: list[float] = []
    empty = 0
    busy0, wall0 = box_busy_seconds(), time.monotonic()
    try:
        for i in range(warmup + calls):
            q = qs[i]
            t0 = time.perf_counter()
            reply = await stub.Search(kb_pb.SearchRequest(query=q, k=SEARCH_RESULTS,
                                                          min_score=MIN_SCORE))
            elapsed = time.perf_counter() - t0
            if i >= warmup:
                grpc_s.append(elapsed)
                empty += not reply.results
    finally:
        await channel.close()
    box_busy = (box_busy_seconds() - busy0) / (time.monotonic() - wall0)
    vectors = await embedder.embed(qs)
    kb = KnowledgeBase(store, embedder)
    sql_s: list[float] = []
    before_s: list[float] = []
    for i in range(warmup + calls):
        q, v = qs[i], vectors[i]
        t0 = time.perf_counter()
        await kb.search_by_vector(q, v, SEARCH_RESULTS, MIN_SCORE, "")
        t1 = time.perf_counter()
        await search_before(pool, q, v, SEARCH_RESULTS, MIN_SCORE)
        if i >= warmup:
            sql_s.append(t1 - t0)
            before_s.append(time.perf_counter() - t1)
    result = SearchResult(int(total), calls, grpc_s, sql_s, before_s, empty, box_busy,
                          await _hit_at_3(kb, pool, embedder))
    progress("search", (
        f"{result.articles:,} articles: {calls} searches  gRPC p50 {result.p50 * 1000:.1f} ms  "
        f"p95 {result.p95 * 1000:.1f} ms  | SQL p95 {percentile(sql_s, 95) * 1000:.1f} ms "
        f"(before {percentile(before_s, 95) * 1000:.1f} ms)  | hit@3 " + ", ".join(
            f"{k} {h.after:.3f} (before {h.before:.3f})" for k, h in result.hit_at_3.items())
        + f"  | no hit ≥ {MIN_SCORE}: {empty}  | box busy {box_busy:.2f} cores"
    ))
    return result


@dataclass
class GrowReport:
    added: int
    embedded: int
    embed_seconds: float
    write_seconds: float


async def grow(store: KnowledgeStore, embedder: CachedEmbedder, total: int) -> GrowReport:
    """Adds synthetic articles until the base holds `total`, through KnowledgeBase."""
    real = load_directory(KNOWLEDGE_BASE_DIR)
    extra = synthetic_articles(real, total)
    embedded0, seconds0 = embedder.embedded, embedder.embed_seconds
    await embedder.fill([a.embedding_text() for a in extra])
    kb = KnowledgeBase(store, embedder)
    batches = [extra[i : i + BATCH] for i in range(0, len(extra), BATCH)]
    queue: asyncio.Queue = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    written = 0
    started = time.monotonic()
    last = started

    async def writer() -> None:
        nonlocal written, last
        while not queue.empty():
            batch = queue.get_nowait()
            await kb.upsert_many(batch)
            written += len(batch)
            if time.monotonic() - last >= 5 or written == len(extra):
                last = time.monotonic()
                rate = written / (last - started)
                progress("search", f"written {written}/{len(extra)} articles  {rate:.0f}/s")

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    # Fresh statistics, as autovacuum would have them on a base that grew over time.
    await store._pool.execute("ANALYZE knowledge.articles")
    await store._pool.execute("ANALYZE knowledge.article_embeddings")
    # A service reads its list of common words from those statistics at most this long ago:
    # wait it out, so the search below runs as on a base that grew over time, with the list
    # the SQL alone is measured with.
    report = GrowReport(len(extra), embedder.embedded - embedded0,
                        embedder.embed_seconds - seconds0, time.monotonic() - started)
    await asyncio.sleep(search_mod.COMMON_LEXEMES_TTL_S)
    return report


async def measure_smaller(agent_addr: str, store: KnowledgeStore, embedder: CachedEmbedder,
                          size: int, calls: int, *, api_key: str) -> SearchResult:
    """Search on a base of `size` real articles: the others (spread over every category) are
    deleted for the measurement and written back afterwards, unchanged."""
    real = sorted(load_directory(KNOWLEDGE_BASE_DIR), key=lambda a: a.slug)
    keep = {real[i * len(real) // size].slug for i in range(size)}
    removed = [a for a in real if a.slug not in keep]
    for a in removed:
        await store.delete(a.slug)
    try:
        return await measure_search(agent_addr, store, embedder, calls, api_key=api_key)
    finally:
        await KnowledgeBase(store, embedder).upsert_many(removed)


async def run(admin_dsn: str, agent_addr: str, *, sizes: Sequence[int], calls: int,
              use_cache: bool, api_key: str) -> tuple[list[SearchResult], GrowReport | None]:
    """Measures Search at each size in turn: 0 is the real base as seeded, a size below it a
    subset of the real articles, a size above it the base grown with synthetic articles."""
    embedder = CachedEmbedder(CACHE_DIR / f"embeddings-{LOCAL_MODEL}.npz", use_cache)
    pool = await open_pool(service_dsn(admin_dsn, "knowledge"), 1, WRITERS + 1)
    results, grown = [], None
    try:
        store = KnowledgeStore(pool)
        for size in sizes:
            have = await pool.fetchval("SELECT count(*) FROM knowledge.articles")
            if 0 < size < have:
                results.append(await measure_smaller(agent_addr, store, embedder, size, calls,
                                                     api_key=api_key))
                continue
            if size > have:
                grown = await grow(store, embedder, size)
                progress("search", f"grown to {size:,} articles: {grown.added} added in "
                                   f"{grown.write_seconds:.0f}s of writes"
                                   + (f", {grown.embedded} embedded in {grown.embed_seconds:.0f}s "
                                      f"({grown.embedded / grown.embed_seconds:.0f} texts/s)"
                                      if grown.embedded else ", vectors from the cache"))
            results.append(await measure_search(agent_addr, store, embedder, calls, api_key=api_key))
    finally:
        await pool.close()
    return results, grown
