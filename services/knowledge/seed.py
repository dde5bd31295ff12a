"""Loads the knowledge-base files into schema `knowledge`: `python -m services.knowledge.seed`.

Idempotent: an article whose content hash is unchanged (and already has a vector of the active
embedding model) is not re-embedded; only new or edited articles go to the embedder, in
batches. Uses DATABASE_URL (the fte_knowledge role) and EMBEDDING_PROVIDER like the service.
`--prune` also deletes articles that no longer have a file (off by default: support staff
may have added articles with grpcurl).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.knowledge.articles import ArticleInput, load_directory
from services.knowledge.base import KnowledgeBase
from services.knowledge.store import KnowledgeStore
from services.knowledge.embeddings import build_embedder
from services.knowledge.settings import KnowledgeSettings
from services.common.db import open_pool

log = logging.getLogger(__name__)

# Articles written (and embedded) per round trip: one embedder call per batch.
BATCH = 64


@dataclass
class SeedReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    embedded: int = 0
    unchanged: int = 0
    pruned: int = 0
    model: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"seeded {self.total} articles with {self.model}: {self.created} created, "
            f"{self.updated} updated, {self.embedded} embedded, {self.unchanged} unchanged, "
            f"{self.pruned} pruned ({self.seconds:.1f}s)"
        )


async def seed(kb: KnowledgeBase, articles: Sequence[ArticleInput], prune: bool = False) -> SeedReport:
    started = time.monotonic()
    report = SeedReport(total=len(articles), model=kb.model)
    before = await kb.store.freshness([a.slug for a in articles], kb.model)
    for start in range(0, len(articles), BATCH):
        for outcome in await kb.upsert_many(articles[start : start + BATCH]):
            slug = outcome.article.slug
            if outcome.created:
                report.created += 1
            elif before.get(slug, ("", False))[0] != outcome.article.content_hash:
                report.updated += 1
            report.embedded += outcome.embedded
            if not outcome.created and not outcome.embedded:
                report.unchanged += 1
    if prune:
        keep = {a.slug for a in articles}
        token = ""
        while True:
            rows, token, _ = await kb.list(500, token, "")
            for row in rows:
                if row.slug not in keep:
                    await kb.delete(row.slug)
                    report.pruned += 1
            if not token:
                break
    report.seconds = time.monotonic() - started
    return report


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.knowledge.seed", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="article folder")
    parser.add_argument("--prune", action="store_true", help="delete articles without a file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = KnowledgeSettings()
    articles = load_directory(args.dir or settings.knowledge_base_dir)
    pool = await open_pool(settings.database_url, 1, 2)
    try:
        async with build_embedder(settings, preload=False, bulk=True) as embedder:
            report = await seed(KnowledgeBase(KnowledgeStore(pool), embedder), articles, args.prune)
    finally:
        await pool.close()
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
