"""Small text helpers shared by the agent (offline model, guardrails) and reply formatting
(the agent's replies and people's): sentence splitting that respects list items, content terms
with a cheap stem, and markdown removal."""

from __future__ import annotations

import re
import unicodedata

# Words that carry no topic: question scaffolding, pronouns, auxiliaries, politeness.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can cannot could did do does doing done down during
    each either else ever every few for from further get gets getting got had has have having
    he her here hers him his how however i i'd i'll i'm i've if in into is isn't it it's its
    itself just let me might mine more most much must my myself need needs no nor not now of
    off on once one only or other our ours ourselves out over own please same shall she should
    so some still such than thank thanks that that's the their theirs them then there there's
    these they this those through to too under until up us use used using very via want wants
    was we we're were what what's when where which while who whom why will with within without
    would yes yet you you're your yours yourself hi hello hey dear regards cheers team kind
    best anyone someone something anything way ways know tell really also able like okay ok
    possible question questions help flowboard""".split()
)

_ABBREVIATIONS = ("Inc.", "e.g.", "i.e.", "etc.", "vs.")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentences of prose; every list item is a sentence of its own (steps stay whole)."""
    sentences: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if _LIST_ITEM.match(line):
            sentences.append(line)
            continue
        protected = line
        for i, abbr in enumerate(_ABBREVIATIONS):
            protected = protected.replace(abbr, f"\x00{i}\x00")
        for part in _SENTENCE_END.split(protected):
            for i, abbr in enumerate(_ABBREVIATIONS):
                part = part.replace(f"\x00{i}\x00", abbr)
            if part.strip():
                sentences.append(part.strip())
    return sentences


def is_list_item(sentence: str) -> bool:
    return bool(_LIST_ITEM.match(sentence))


def strip_list_marker(sentence: str) -> str:
    return _LIST_ITEM.sub("", sentence, count=1)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'+-]*", text.lower())


def stem(word: str) -> str:
    """Crude but symmetric: the same cut applied to query and article words lets
    'downgrades'/'downgrading'/'downgrade' meet. Short words and codes stay whole."""
    word = word.strip("'-")
    if len(word) <= 4 or any(c.isdigit() for c in word):
        return word
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> set[str]:
    """Stemmed words that say what a text is about."""
    return {stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1}


_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
# Underscores are left alone: in support replies they are file names and tokens, not emphasis.
_MD_EMPHASIS = re.compile(r"(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)


def strip_markdown(text: str) -> str:
    """Plain text for channels that show markdown literally (WhatsApp, SMS-like)."""
    text = _MD_LINK.sub(r"\1 (\2)", text)
    text = _MD_HEADING.sub("", text)
    for _ in range(2):  # nested emphasis (**_x_**)
        text = _MD_EMPHASIS.sub(r"\2", text)
    text = re.sub(r"^\s*[-*]\s+", "• ", text, flags=re.M)
    return text.replace("```", "")


# --- greetings, pleasantries and what is left of a message ---------------------------------

# "Hi," / "Hello team!" / "Dear Flowboard support," - at most three words of address.
GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)"
    r"(?:\s+[\w.'-]+){0,3}\s*[,!:\n]\s*",
    re.IGNORECASE,
)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")


def visible_text(text: str) -> str:
    """The text without HTML tags, invisible format characters (zero-width spaces and
    joiners, soft hyphens, byte-order marks) and control characters other than line breaks
    and tabs."""
    text = _HTML_TAG.sub(" ", text)
    return "".join(c for c in text if c in "\n\r\t" or unicodedata.category(c) not in ("Cf", "Cc"))


# Words that only greet, thank or close: a message of nothing else asks nothing.
_PLEASANTRIES = frozenset(
    """hi hii hiii hello helo hallo hey heya hiya howdy yo greetings dear good morning afternoon
    evening day night gm thanks thank thankyou thx tnx ty tysm you so very much many lots a lot
    again in advance for the your this that it all everyone everybody folks guys team there
    support flowboard help reply answer response quick fast info cheers ok okay k kk great cool
    nice perfect awesome excellent brilliant wonderful appreciated appreciate much bye goodbye
    see later how are doing today now works worked solved fixed resolved sorted got and oh ah
    have hope hoping trust well fine re you're youre you've all's week weekend""".split()
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def is_pleasantry(text: str) -> bool:
    """Nothing but greetings, thanks, emoji and punctuation ("hi", "Thanks, Ana!", "👍",
    "good morning team"); "hi, my board won't load" asks something."""
    text = visible_text(text)
    tokens = _WORD.findall(text)
    if not tokens:
        return True
    other = [t for t in tokens if t.lower() not in _PLEASANTRIES]
    if not other:
        return True
    # "Thanks, Ana" / "Hello Sam Rivera!": a name or two after a greeting or thanks.
    return (len(other) <= 2 and len(tokens) > len(other) and len(tokens) <= 6
            and all(t[:1].isupper() and t[1:].islower() for t in other))
