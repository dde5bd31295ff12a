"""`python -m services.agent.seed` loads the article files; a second run embeds nothing,
and only an edited article is re-embedded."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from services.agent.articles import load_directory
from services.agent.embeddings import LocalEmbedder
from services.agent.knowledge import KnowledgeBase
from services.agent.knowledge_store import KnowledgeStore
from services.agent.seed import seed
from services.agent.settings import KNOWLEDGE_BASE_DIR
from services.common.db import open_pool

ROOT = Path(__file__).resolve().parents[2]


async def test_first_seed_created_and_embedded_every_article(seeded_knowledge):
    total = len(load_directory(KNOWLEDGE_BASE_DIR))

    assert seeded_knowledge.total == total >= 100
    assert seeded_knowledge.created == seeded_knowledge.embedded == total


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
    done = subprocess.run([sys.executable, "-m", "services.agent.seed"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "0 created, 0 updated, 0 embedded" in done.stdout
