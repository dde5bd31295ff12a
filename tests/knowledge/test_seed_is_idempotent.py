"""`python -m services.knowledge.seed` loads the article files; a second run embeds nothing,
and only an edited article is re-embedded."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path

from services.knowledge.articles import load_directory
from services.knowledge.embeddings import LocalEmbedder
from services.knowledge.base import KnowledgeBase
from services.knowledge.store import KnowledgeStore
from services.knowledge.seed import seed
from services.knowledge.settings import KNOWLEDGE_BASE_DIR
from services.common.db import open_pool

ROOT = Path(__file__).resolve().parents[2]


async def test_after_seeding_every_file_is_stored_with_a_current_vector(seeded_knowledge, admin_db):
    files = {a.slug: a.content_hash for a in load_directory(KNOWLEDGE_BASE_DIR)}
    rows = await admin_db.fetch(
        "SELECT a.slug, a.content_hash, e.content_hash AS vector_hash, e.dimensions "
        "FROM knowledge.articles a LEFT JOIN knowledge.article_embeddings e "
        "ON e.article_id = a.article_id AND e.model = 'all-MiniLM-L6-v2' "
        "WHERE a.slug = ANY($1::text[])", list(files))

    assert len(files) >= 100 and seeded_knowledge.total == len(files)
    assert {r["slug"]: r["content_hash"] for r in rows} == files
    assert all(r["vector_hash"] == r["content_hash"] and r["dimensions"] == 384 for r in rows)


async def test_new_articles_are_created_and_embedded_in_one_batch(knowledge_dsn, seeded_knowledge):
    # Copies of three real articles under fresh slugs: new to the base, so seeded for real.
    prefix = f"seedtest-{uuid.uuid4().hex[:6]}"
    fresh = [dataclasses.replace(a, slug=f"{prefix}-{i}")
             for i, a in enumerate(load_directory(KNOWLEDGE_BASE_DIR)[:3])]
    embedder = LocalEmbedder()
    pool = await open_pool(knowledge_dsn, 1, 2)
    try:
        kb = KnowledgeBase(KnowledgeStore(pool), embedder)
        first = await seed(kb, fresh)
        second = await seed(kb, fresh)
        for a in fresh:
            await kb.delete(a.slug)
    finally:
        await pool.close()

    assert (first.created, first.embedded) == (3, 3)
    assert (second.created, second.embedded, second.unchanged) == (0, 0, 3)
    assert embedder.calls == 1


async def test_reseeding_unchanged_articles_never_calls_the_embedder(seeded_knowledge, knowledge_dsn):
    articles = load_directory(KNOWLEDGE_BASE_DIR)
    embedder = LocalEmbedder()
    pool = await open_pool(knowledge_dsn, 1, 2)
    try:
        kb = KnowledgeBase(KnowledgeStore(pool), embedder)
        again = await seed(kb, articles)
        assert embedder.calls == 0
        assert (again.created, again.updated, again.embedded, again.unchanged) == (0, 0, 0, len(articles))

        edited = [dataclasses.replace(articles[0], body=articles[0].body + "\n\nEdited.")] + articles[1:]
        after_edit = await seed(kb, edited)
        assert (after_edit.updated, after_edit.embedded) == (1, 1)
        assert embedder.calls == 1  # one batched call for the one changed article

        restored = await seed(kb, articles)
        assert (restored.updated, restored.embedded) == (1, 1)
    finally:
        await pool.close()


def test_seed_command_reports_nothing_to_embed_on_an_unchanged_base(seeded_knowledge, knowledge_dsn):
    env = {**os.environ, "DATABASE_URL": knowledge_dsn, "EMBEDDING_PROVIDER": "local",
           "PYTHONPATH": f"{ROOT}:{ROOT}/gen/python"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "services.knowledge.seed"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "0 created, 0 updated, 0 embedded" in done.stdout
