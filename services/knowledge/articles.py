"""Knowledge-base articles as plain data: validation, the content hash, the file format.

An article file is Markdown with a small front-matter:

    ---
    slug: password-reset
    title: Reset a forgotten password
    category: accounts
    tags: password, forgot password, sign-in
    ---
    On the sign-in page choose "Forgot password" ...

The content hash covers title, category and body (what the vector is computed from); tags
feed full-text search only, so editing them never costs a re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import InvalidArgument

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
CATEGORY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_BODY_CHARS = 20000
MAX_TITLE_CHARS = 300


@dataclass(frozen=True)
class ArticleInput:
    slug: str
    title: str
    category: str
    body: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.category, self.body)

    def embedding_text(self) -> str:
        # The title carries the question an article answers; it leads so that it survives the
        # encoder's truncation (MiniLM reads 256 word pieces).
        return f"{self.title}\n\n{self.body}"


def content_hash(title: str, category: str, body: str) -> str:
    # JSON keeps field boundaries unambiguous ("a" + "bc" differs from "ab" + "c").
    return hashlib.sha256(json.dumps([title, category, body]).encode()).hexdigest()


def validated(
    slug: str, title: str, category: str, body: str, tags: list[str] | tuple[str, ...] = ()
) -> ArticleInput:
    """Normalises whitespace and checks every field, naming the first bad one."""
    slug, title, category = slug.strip(), " ".join(title.split()), category.strip().lower()
    body = body.strip().replace("\r\n", "\n")
    if not SLUG.match(slug):
        raise InvalidArgument(
            "article.slug: lower-case letters, digits and dashes, 1-120 characters"
        )
    if not title or len(title) > MAX_TITLE_CHARS:
        raise InvalidArgument(f"article.title: required, at most {MAX_TITLE_CHARS} characters")
    if not CATEGORY.match(category):
        raise InvalidArgument("article.category: required, lower-case letters, digits, dashes")
    if not body or len(body) > MAX_BODY_CHARS:
        raise InvalidArgument(f"article.body: required, at most {MAX_BODY_CHARS} characters")
    clean_tags = tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    return ArticleInput(slug, title, category, body, clean_tags)


def parse_file(path: Path) -> ArticleInput:
    """Reads one article file; the slug defaults to the file name."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---"):
        _, head, body = text.split("---", 2)
        for line in head.strip().splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"{path}: bad front-matter line {line!r}")
            meta[key.strip()] = value.strip()
    tags = [t for t in meta.get("tags", "").split(",") if t.strip()]
    try:
        return validated(
            meta.get("slug", path.stem), meta.get("title", ""), meta.get("category", ""),
            body, tags,
        )
    except InvalidArgument as err:
        raise ValueError(f"{path}: {err.details}") from err


def load_directory(directory: Path) -> list[ArticleInput]:
    """Every `*.md` article under `directory`, sorted by slug; duplicate slugs are an error."""
    articles = [parse_file(p) for p in sorted(directory.rglob("*.md")) if p.name != "README.md"]
    seen: dict[str, int] = {}
    for a in articles:
        seen[a.slug] = seen.get(a.slug, 0) + 1
    duplicates = sorted(s for s, n in seen.items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate article slugs: {duplicates}")
    return sorted(articles, key=lambda a: a.slug)
