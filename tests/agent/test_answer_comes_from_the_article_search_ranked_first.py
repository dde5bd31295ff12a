"""The offline model answers from the article the knowledge search ranked first. A lower-ranked
article competes for the answer's sentences, but its sentences start behind by what its
article scored under the first: a word in common with the question ("team") must not hand an
outage report to the company overview. Where the search scored both articles alike, the
sentences decide. The real articles and the real local embedder; the search's results are given
as the search tool hands them over (rounded scores, whole bodies)."""

from __future__ import annotations

from services.agent.offline_model import OfflineModel
from services.agent.tools import ESCALATE_TAG
from services.knowledge.articles import load_directory
from services.knowledge.embeddings import LocalEmbedder
from services.knowledge.settings import KNOWLEDGE_BASE_DIR

ARTICLES = {a.slug: a for a in load_directory(KNOWLEDGE_BASE_DIR)}
OUTAGE = "Flowboard is down for our whole team"


def _result(slug: str, score: float) -> dict:
    article = ARTICLES[slug]
    return {"article_id": slug, "title": article.title, "category": article.category,
            "score": score, "needs_human": ESCALATE_TAG in article.tags, "body": article.body}


async def test_a_lower_ranked_article_does_not_take_the_answer_on_a_word_in_common():
    model = OfflineModel(LocalEmbedder())
    # The search's scores for this question (the third and second results 0.0001 apart).
    results = [_result("report-an-outage", 0.518), _result("about-flowboard", 0.494)]

    answer = await model.compose(OUTAGE, results, "email", {})

    assert answer.article_ids[0] == "report-an-outage"
    assert "status.flowboard.example" in answer.text
    assert answer.needs_human


async def test_articles_the_search_scored_alike_compete_on_their_sentences():
    model = OfflineModel(LocalEmbedder())
    results = [_result("report-an-outage", 0.5), _result("about-flowboard", 0.5)]

    answer = await model.compose(OUTAGE, results, "email", {})

    # Sentence by sentence, the overview's opening ("... web app for teams") is closer.
    assert answer.article_ids[0] == "about-flowboard"
