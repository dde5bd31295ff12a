"""The knowledge base is written from the company facts (shared/product/FACTS.md): at least
100 articles, every fact covered by some article, and no article introduces a number, address,
menu path, quoted UI text or proper name that the facts do not contain.

The checks are mechanical on purpose: they catch the invented details that make an answer
wrong (a limit, a price, an integration that does not exist), which is what matters when the
agent quotes articles word for word."""

from __future__ import annotations

import re

from services.knowledge.articles import load_directory
from services.knowledge.settings import KNOWLEDGE_BASE_DIR


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DOMAIN = re.compile(r"\b[a-z][\w-]*(?:\.[a-z][\w-]*)*\.example(?:/\w+)?\b")
_QUOTED = re.compile(r'"([^"\n]+)"')
_LIST_MARKER = re.compile(r"^\s*(?:[-*]|\d+\.)\s+", re.M)
# "I" and the possessive of the product name are the only capitalised words allowed beyond
# the facts' own vocabulary.
_GENERIC = {"I", "Flowboard's"}


def _fact_bullets(facts: str) -> list[str]:
    # "(see Plans)" is a cross-reference inside the facts, not a fact of its own.
    return [
        re.sub(r"\s*\(see [^)]*\)", "", line[2:]).strip()
        for line in facts.splitlines()
        if line.startswith("- ")
    ]


def _article_texts() -> dict[str, str]:
    return {a.slug: f"{a.title}\n{a.body}" for a in load_directory(KNOWLEDGE_BASE_DIR)}


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(_LIST_MARKER.sub("", text)))


def _proper_names(text: str) -> set[str]:
    """Capitalised words that do not start a sentence, list item or heading."""
    names = set()
    for line in _LIST_MARKER.sub("", text).splitlines():
        for sentence in re.split(r"(?<=[.!?:;])\s+", line.strip()):
            words = re.findall(r"[A-Za-z][\w'-]*", sentence)
            names.update(w for w in words[1:] if w[0].isupper())
    return names - _GENERIC


def _paths(text: str) -> list[list[str]]:
    found = []
    for m in re.finditer(r"Settings(?:\s*→\s*[^→.,;:()\n]+)+", text):
        found.append([s.strip() for s in re.split(r"\s*→\s*", m.group(0))])
    return found


def test_at_least_100_articles_with_title_category_and_body():
    articles = load_directory(KNOWLEDGE_BASE_DIR)
    assert len(articles) >= 100
    for a in articles:
        assert a.title and a.category and len(a.body.split()) >= 5, a.slug
    categories = {a.category for a in articles}
    assert {"accounts", "billing", "api", "integrations", "troubleshooting", "security",
            "policies"} <= categories


def test_articles_state_no_number_address_or_name_absent_from_the_facts(facts):
    fact_numbers, fact_names = _numbers(facts), set(re.findall(r"[A-Za-z][\w'-]*", facts))
    fact_paths = _paths(facts)
    problems = []
    for slug, text in _article_texts().items():
        for n in sorted(_numbers(text) - fact_numbers):
            problems.append(f"{slug}: number {n}")
        for e in set(_EMAIL.findall(text)) | set(_DOMAIN.findall(text)):
            if e not in facts:
                problems.append(f"{slug}: address {e}")
        for q in _QUOTED.findall(text):
            if q not in facts:
                problems.append(f'{slug}: quoted "{q}"')
        for name in sorted(_proper_names(text) - fact_names):
            problems.append(f"{slug}: name {name}")
        for path in _paths(text):
            ok = any(
                len(path) <= len(fp)
                and path[:-1] == fp[: len(path) - 1]
                and path[-1].startswith(fp[len(path) - 1])
                for fp in fact_paths
            )
            if not ok:
                problems.append(f"{slug}: menu path {' → '.join(path)}")
    assert not problems, "\n".join(problems)


def _key_tokens(bullet: str) -> set[str]:
    tokens = _numbers(bullet) | set(_EMAIL.findall(bullet)) | set(_DOMAIN.findall(bullet))
    tokens |= {q for q in _QUOTED.findall(bullet)}
    tokens |= _proper_names(bullet)
    return tokens


def _content_words(text: str) -> set[str]:
    # Five-letter prefixes: a cheap stem so "downgrades"/"downgrade" and "arrives"/"arrive" meet.
    return {w.lower()[:5] for w in re.findall(r"[A-Za-z]{4,}", text)}


def test_every_fact_is_covered_by_some_article(facts):
    articles = _article_texts()
    uncovered = []
    for bullet in _fact_bullets(facts):
        keys, words = _key_tokens(bullet), _content_words(bullet)
        best = 0.0
        for text in articles.values():
            if all(k in text for k in keys):
                best = max(best, len(words & _content_words(text)) / max(len(words), 1))
        if best < 0.6:
            uncovered.append(f"{best:.2f} {bullet}")
    assert not uncovered, "facts no article covers:\n" + "\n".join(uncovered)


# Plain-language claims an audit found in articles although FACTS.md does not make them
# (the mechanical checks above cannot see a claim made only in ordinary words).
_UNSUPPORTED_CLAIMS = {
    r"\bany (?:programming )?language\b": "the API works from any language",
    r"\bother plans\b": "which plans pay by card only",
    r"\bseparate feature\b": "how activity history and the audit log relate",
    r"\bunhappy\b[^.]*\bat once\b": "unhappy customers get a person at once",
    r"\bupset\b": "upset (not angry) customers are handed over",
    r"\bonly when\b": "the only condition under which something happens",
}


def test_articles_make_no_plain_language_claim_the_facts_do_not(facts):
    problems = []
    for slug, text in _article_texts().items():
        for pattern, claim in _UNSUPPORTED_CLAIMS.items():
            if (m := re.search(pattern, text, re.I)) and not re.search(pattern, facts, re.I):
                problems.append(f"{slug}: {m.group(0)!r} ({claim})")
    assert not problems, "\n".join(problems)
