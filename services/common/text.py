"""Small text helpers shared by the agent (offline model, guardrails) and reply formatting
(the agent's replies and people's): sentence splitting that respects list items, content terms
with a cheap stem, markdown removal, and the question in a message (`clean_question`)."""

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


# --- the question in a message ---------------------------------------------------------

# A sign-off is the message's last short lines: "Thanks,", "Best regards", "Sent from my
# iPhone", then at most a few lines of name, title or company. A line that asks something, or
# a "Thanks for the reply. How do I ...?" sentence, is the message, not its sign-off.
_SIGN_OFF_LINE = re.compile(
    r"^(?:thanks|thank you|many thanks|thanks again|thx|ty|regards|best|cheers|kind regards|"
    r"best regards|warm regards|warmest regards|sincerely|all the best|br|sent from my)\b[^?]*$",
    re.IGNORECASE,
)
_NAME_LINE = re.compile(r"^(?![a-z])[^?!:;]{1,60}$")
# "Thanks for the reply. <the question>": the thanks carries nothing to search for.
_LEADING_THANKS = re.compile(
    r"^(?:thanks|thank you|many thanks)\b[^.?!\n]{0,80}[.!]+\s+(?=\S)", re.IGNORECASE
)
_SUBJECT = re.compile(r"^subject:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


def _without_sign_off(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i and line.rstrip() == "--":  # the "-- " signature delimiter
            lines = lines[:i]
            break
    cut, names = len(lines), 0
    for j in range(len(lines) - 1, -1, -1):
        line = lines[j].strip()
        if not line:
            continue
        if (len(line.split()) <= 12 and len(split_sentences(line)) == 1
                and _SIGN_OFF_LINE.match(line)):
            cut = j
            continue
        # Below a sign-off: a name, a title, a company ("Ana", "CTO, Acme Ltd").
        if names < 4 and len(line.split()) <= 5 and _NAME_LINE.match(line) \
                and not line.endswith("."):
            names += 1
            continue
        break
    return "\n".join(lines[:cut])


def clean_question(text: str) -> str:
    """The customer's question without greeting, sign-off and the 'Subject:' header line
    (the subject itself is kept: it often says more than the body). Never empty unless the
    message has nothing visible: what cleaning would leave empty is kept as it came."""
    text = original = visible_text(text)
    subject = ""
    if m := _SUBJECT.search(text):
        subject = m.group(1).strip()
        text = _SUBJECT.sub("", text)
    body = _without_sign_off(text.strip()).strip()
    body = GREETING.sub("", body, count=1).strip()
    body = _LEADING_THANKS.sub("", body, count=1).strip()
    joined = f"{subject}. {body}" if subject and subject.lower() not in body.lower() else body
    cleaned = " ".join(joined.split())[:1000]
    return cleaned or " ".join(original.split())[:1000]
