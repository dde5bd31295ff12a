"""The offline model: an Agents SDK `Model` that needs no network.

It plays the same game an LLM plays through the SDK: it reads the conversation (the customer
message and the outputs of the tools it called so far) and answers with the next tool calls or
the final message. Its policy:

0. Account linking (issue 12): a message that is a one-time code ("123456", "the code is
   123456", or its redacted form) calls `confirm_account_link`; one that says another address
   is the customer's too ("this is me, ada@example.com", "I also write from +44 7700 900123",
   "link my email x@y.com") calls `request_account_link`; the tool's reply is then sent as is.
1. First turn: `create_ticket`, `get_customer_history` and `search_knowledge_base` with the
   customer's question (cleaned of greetings and sign-offs; never an empty query) - once per
   question when the message asks several (`split_questions`, at most three).
2. Nothing relevant found: a follow-up that leans on the conversation ("it still doesn't
   work") is searched with the customer's recent messages from the history and its answer
   names the earlier message; then search once more with other words (synonyms expanded; for
   "do you have X?" questions, the knowledge base's rule about features it does not describe).
3. No search relevant: `escalate_to_human(search_failed)`, then send the handover message.
   Several questions: the answered ones are sent in one reply, in the order asked, with one
   sentence that a person follows up on the rest (escalated search_failed).
4. Relevant articles: compose the answer *extractively* - rank every sentence of the retrieved
   article bodies against the question (sentence embeddings plus overlap with the question's
   words, rarer words counting more), keep the best ones of the best article in their order (whole lists when a step of a list is
   chosen), say plainly that a feature is not available when the question asks for something
   no retrieved article mentions, and acknowledge earlier contact on another channel from the
   history. Articles tagged as needing a person are answered *and* escalated.
5. `send_response` with the composed text and the ids of the articles it came from.

Every sentence of an answer is therefore either a knowledge-base sentence or one of a few
fixed frames ("I see you emailed us on ...", "X is not available in Flowboard today").
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from agents import Model, ModelResponse, ModelTracing, Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from services.knowledge.embeddings import Embedder, RecentVectors
from services.agent import linking
from services.agent import handover
from services.agent.handover import FIRST_REPLY
from services.common import link_codes
from services.common.text import (
    STOPWORDS,
    clean_question,
    content_terms,
    is_list_item,
    is_pleasantry,
    split_sentences,
    stem,
    strip_list_marker,
    words,
)

MODEL_NAME = "flowboard-offline-extractive-v1"

# Sentences kept per answer, by channel (WhatsApp is read on a phone: keep it short).
MAX_SENTENCES = {"email": 4, "web_form": 3, "whatsapp": 3}
# A sentence joins the answer when it scores this close to the best one.
KEEP_WITHIN = 0.12
# A second article competes for sentences when its search score is this close to the first.
SECOND_ARTICLE_WITHIN = 0.05
# Below both of these the "relevant" article does not actually talk about the question.
MIN_SENTENCE_SIMILARITY = 0.25

# Customer words -> the words the articles use. Applied to the second search only.
_SYNONYMS = {
    "pr": "pull request", "prs": "pull requests", "2fa": "two-factor authentication",
    "mfa": "two-factor authentication", "login": "sign in", "log": "sign", "logged": "signed",
    "logout": "sign out", "column": "list",
    "columns": "lists", "kanban": "board view", "seat": "member", "seats": "members",
    "users": "members", "user": "member", "bill": "invoice", "receipt": "invoice",
    "receipts": "invoices", "backup": "export", "recover": "restore", "undelete": "restore",
    "deleted": "trash", "down": "outage status page", "outage": "status page incident",
    "wifi": "offline mode internet connection", "internet": "offline mode internet connection",
    "plane": "offline", "flight": "offline", "url": "api base url", "endpoint": "api base url",
    "remotely": "sign out everywhere", "stolen": "sign out everywhere",
    "nicked": "sign out everywhere", "amex": "american express card payment methods",
    "library": "sdk", "libraries": "sdks", "client": "sdk",
    "key": "token", "keys": "tokens", "phone": "mobile app", "iphone": "ios app",
    "ipad": "ios app", "mac": "macos desktop app", "pc": "windows desktop app",
    "throttled": "rate limit", "forbidden": "403 scope", "unauthorized": "401 token",
    "repeat": "recurring", "repeating": "recurring", "subtasks": "checklists",
    "subtask": "checklist", "gdpr": "data processing agreement",
}
# Phrasings of "does Flowboard have X?": the answer may be "not available today".
_FEATURE_QUESTION = re.compile(
    r"^(?:(?:do|does|will|can|could|would)\s+(?:you|flowboard|it|the app)\s+(?:have|offer|"
    r"support|provide|include|integrate with|work with|connect (?:to|with)|sync with)|"
    r"is there (?:a|an|any)?|are there (?:any)?|(?:can|could) (?:i|we|you) (?:use|get|have|"
    r"connect|integrate|sync|set up|set|turn on|enable|export to|import from)|"
    r"is it possible to (?:use|get|have)|(?:does|do) (?:flowboard|you) (?:come with|have))"
    r"\s+(?P<x>.+?)\s*\??$",
    re.IGNORECASE,
)
# "Can I track time on tasks?" asks for an activity the product may not offer: the activity
# itself ("tracking time on tasks") is the feature asked about.
_ACTIVITY_QUESTION = re.compile(
    r"^(?:(?:can|could) (?:i|we|you)|is it possible to|(?:do|does) (?:flowboard|it|the app) let "
    r"(?:me|us) )\s*(?P<verb>track|log(?!\s*(?:in|out|on|off)\b)|record|draw|sketch|embed|"
    r"translate|video[- ]call|chat|invoice|bill|white[- ]label|scan|e-?sign)\s+(?P<x>.+?)"
    r"\s*\??$",
    re.IGNORECASE,
)


def _gerund(verb: str) -> str:
    verb = verb.lower()
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdglmnprt]", verb):  # chat -> chatting, log -> logging
        return verb + verb[-1] + "ing"
    return verb + "ing"


# Terms too general to decide whether an article mentions the thing asked about.
_GENERIC_TERMS = {stem(w) for w in (
    "integration integrations integrate app apps application feature features option "
    "options support supported tool tools plan plans function functionality ability way "
    "mode setting settings account workspace board boards task tasks available availability "
    "native official using use flowboard connect connection sync"
).split()}
FEATURE_POLICY_QUERY = "is a feature available today or on the roadmap"


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: dict[str, Any]
    output: str | None = None

    def result(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.output or "")
        except (TypeError, ValueError):
            return {"error": self.output or ""}
        return parsed if isinstance(parsed, dict) else {"value": parsed}


@dataclass
class _Transcript:
    user_text: str = ""
    calls: list[_Call] = field(default_factory=list)
    all_text: str = ""

    @classmethod
    def read(cls, items: str | list[Any]) -> _Transcript:
        if isinstance(items, str):
            return cls(user_text=items, all_text=items)
        t = cls()
        by_id: dict[str, _Call] = {}
        texts: list[str] = []
        for raw in items:
            item = raw if isinstance(raw, dict) else getattr(raw, "model_dump", lambda: {})()
            kind = item.get("type")
            if item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                t.user_text = (t.user_text + "\n" + str(content or "")).strip()
                texts.append(str(content or ""))
            elif kind == "function_call":
                try:
                    args = json.loads(item.get("arguments") or "{}")
                except ValueError:
                    args = {}
                call = _Call(item.get("call_id", ""), item.get("name", ""), args)
                by_id[call.call_id] = call
                t.calls.append(call)
                texts.append(item.get("arguments") or "")
            elif kind == "function_call_output":
                output = item.get("output")
                if not isinstance(output, str):
                    output = json.dumps(output)
                if (call := by_id.get(item.get("call_id", ""))) is not None:
                    call.output = output
                texts.append(output)
        t.all_text = "\n".join(texts)
        return t

    def named(self, name: str) -> list[_Call]:
        return [c for c in self.calls if c.name == name and c.output is not None]


def _count_tokens(text: str) -> int:
    # Word pieces and punctuation: close to what a BPE tokenizer counts for English prose.
    return len(re.findall(r"\w+|[^\w\s]", text))


# --- one message, several questions ------------------------------------------------------

MAX_PARTS = 3
_ASK = r"(?:how|what|where|when|why|which|who|can|could|do|does|did|is|are|will|would|should)"
# "How do I A and can I B?", "... and what is the B?": "and", a question word, its subject.
_AND_ASK = re.compile(
    rf"\s*,?\s+and\s+(?={_ASK}\s+(?:(?:is|are|do|does|can|should|will)\s+)?"
    rf"(?:i|we|you|it|they|my|our|the|a|an|there|flowboard)\b)",
    re.IGNORECASE,
)
_STARTS_ASKING = re.compile(rf"^{_ASK}\b", re.IGNORECASE)
# "Also, ...", "And one more thing: ..." open a new question.
_LEAD = re.compile(
    r"^(?:(?:and|also|plus|oh|btw|by the way|one more thing|another question|secondly|second|"
    r"finally|lastly)\b[\s,:;-]*)+",
    re.IGNORECASE,
)
# A question that points back ("Do they count as members?") belongs with the one before.
_BACK_REFERENCE = re.compile(
    r"\b(?:it|its|it's|they|them|their|this|that|these|those|same|both|either)\b", re.IGNORECASE
)


def split_questions(question: str, max_parts: int = MAX_PARTS) -> list[str]:
    """The separate questions of a cleaned message, in the order asked, at most `max_parts`
    (the rest joins the last). A statement joins the question it comes with; a question that
    points back at another ("... Do they count as members?") or says too little to search for
    on its own stays with the one before. One question: `[question]`, unchanged."""
    pieces: list[tuple[str, bool]] = []  # (text, opens a new question)
    for chunk in (c.strip() for c in re.split(r"(?<=\?)\s+", question)):
        if not chunk:
            continue
        led = bool(_LEAD.match(chunk))
        if chunk.endswith("?") and _STARTS_ASKING.match(chunk):
            left, *rest = _AND_ASK.split(chunk, maxsplit=1)
            if rest and rest[0].strip() and not _BACK_REFERENCE.search(rest[0]) \
                    and len(content_terms(left)) >= 1:
                pieces += [(left.rstrip(" ,;") + "?", led), (rest[0].strip(), True)]
                continue
        pieces.append((chunk, led or chunk.endswith("?")))
    parts: list[str] = []
    for text, opens in pieces:
        stripped = _LEAD.sub("", text).strip() or text
        standalone = (opens and len(content_terms(stripped)) >= 2
                      and not _BACK_REFERENCE.search(stripped))
        if parts and not standalone:
            parts[-1] = f"{parts[-1]} {text}"
        else:
            parts.append(stripped[:1].upper() + stripped[1:] if parts else text)
    unique = list(dict.fromkeys(parts))
    unique = [p for i, p in enumerate(unique) if p.lower() not in {q.lower() for q in unique[:i]}]
    if len(unique) <= 1:
        return [question]
    if len(unique) > max_parts:
        unique = unique[: max_parts - 1] + [" ".join(unique[max_parts - 1:])]
    return unique


def short_topic(text: str, max_words: int = 9) -> str:
    """A question as a short quotable topic: 'Can I use SSO on the Team plan'."""
    ws = _LEAD.sub("", text).strip().rstrip("?.! ").split()
    return " ".join(ws[:max_words]) + ("…" if len(ws) > max_words else "")


def feature_phrase(question: str) -> str | None:
    """'Do you have a Salesforce integration?' -> 'Salesforce integration'."""
    first = re.split(r"(?<=[?.!])\s+", question.strip())
    for sentence in first:
        if a := _ACTIVITY_QUESTION.match(sentence.strip()):
            x = re.sub(r"\s+(?:in|inside|within|with|on|from) (?:flowboard|it|the app)\b.*$", "",
                       a.group("x").strip(" ?.!"), flags=re.IGNORECASE)
            x = re.sub(r"\b(?:my|our)\b", "your", x, flags=re.IGNORECASE)
            return f"{_gerund(a.group('verb'))} {x}"
        m = _FEATURE_QUESTION.match(sentence.strip())
        if m:
            x = re.sub(r"\b(?:in|for|with|on|to|into|from) (?:flowboard|it|you)\b.*$", "",
                       m.group("x"), flags=re.IGNORECASE)
            x = re.sub(r"^(?:a|an|any|the|some)\s+", "", x.strip(" ?.!"), flags=re.IGNORECASE)
            return x or None
    return None


def reformulate(question: str) -> str:
    """A second query in the articles' vocabulary."""
    feature = feature_phrase(question)
    if feature:
        return FEATURE_POLICY_QUERY
    out: list[str] = []
    for w in words(question):
        if w in STOPWORDS:
            continue
        out.append(_SYNONYMS.get(w, w))
    return " ".join(out) or question


def _not_available(phrase: str) -> str:
    noun = phrase.strip()
    first_word = noun.split()[0].lower() if noun.split() else ""
    plural = (noun.lower().endswith("s") and not noun.lower().endswith("ss")
              and not first_word.endswith("ing"))
    return f"{noun[0].upper()}{noun[1:]} {'are' if plural else 'is'} not available in Flowboard today."


def acknowledgement(history: dict[str, Any]) -> str:
    """`handover.acknowledgement` of a `get_customer_history` result: 'I see you emailed us on
    12 Nov about "401 errors".' for the latest customer message on another channel, or ''."""
    return handover.acknowledgement(history.get("earlier_contact_on_other_channels") or [])


def _search_failed(searches: list[_Call]) -> tuple[str, dict]:
    """The escalation after searches that found nothing relevant, naming what was searched."""
    queries = " / ".join(s.arguments.get("query", "") for s in searches)
    return ("escalate_to_human", {
        "reason": "search_failed",
        "note": f"{len(searches)} knowledge-base searches found nothing relevant "
                f"({queries[:400]}).",
    })


@dataclass
class _Sentence:
    article: int
    position: int
    text: str
    score: float = 0.0


@dataclass
class Answer:
    text: str
    article_ids: list[str]
    needs_human: bool


# What three WhatsApp messages hold once the greeting and "Reply for more." are counted.
WHATSAPP_BUDGET = 780

# The message leans on what was said before: "it still doesn't work", "same problem today",
# "and the other thing I asked?", "what about on mobile?".
_LEANS_ON_CONTEXT = re.compile(
    r"\b(?:it|its|it's|that|this|those|these|them|they|same|still|again|other|another|else|"
    r"also|anymore|either|what about|how about)\b",
    re.IGNORECASE,
)
CONTEXT_MESSAGES = 2


@dataclass
class _Context:
    """The conversation's recent customer messages, for a message that leans on them."""

    query: str
    earlier: list[dict[str, Any]]

    @classmethod
    def of(cls, question: str, history: dict[str, Any]) -> _Context | None:
        if len(content_terms(question)) > 2 and not _LEANS_ON_CONTEXT.search(question):
            return None
        earlier = [
            m for m in history.get("messages") or []
            if m.get("from") == "customer" and (m.get("text") or "").strip()
            and m.get("text") != "(empty message)" and not is_pleasantry(m.get("text") or "")
        ][-CONTEXT_MESSAGES:]
        if not earlier:
            return None
        texts = [clean_question((f"Subject: {m['subject']}\n\n" if m.get("subject") else "")
                                + (m.get("text") or "")) for m in earlier]
        return cls(" ".join([*texts, question])[:1000], earlier)

    def frame(self, answer: str, results: list[dict[str, Any]], history: dict[str, Any]) -> str:
        """'About your earlier message on "push notifications stopped arriving": ...', naming
        the earlier message closest to the article that answered."""
        found = content_terms(" ".join(f"{r.get('title', '')} {r.get('body', '')}" for r in results))
        best = max(reversed(self.earlier), key=lambda m: len(content_terms(
            f"{m.get('subject') or ''} {m.get('text') or ''}") & found))
        topic = handover.topic_of(best)
        ack = acknowledgement(history)
        framed = f'About your earlier message on "{topic}":' + (
            "\n" if is_list_item(answer.lstrip()) else " ") + answer
        return "\n\n".join(x for x in (ack if f'"{topic}"' not in ack else "", framed) if x)


class OfflineModel(Model):
    """Deterministic, extractive, grounded; drives the same tools as an online model."""

    name = MODEL_NAME

    def __init__(self, embedder: Embedder) -> None:
        # Article sentences repeat from reply to reply, and the question was embedded moments
        # ago by the guardrail and the search: vectors are remembered (build_embedder's
        # embedder already does; one given bare gets its own memory).
        self._embedder = embedder if isinstance(embedder, RecentVectors) else RecentVectors(embedder)

    # --- sentence vectors ---------------------------------------------------------------

    async def _vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        return await self._embedder.vectors(texts)

    # --- composing ----------------------------------------------------------------------

    async def compose(
        self, question: str, results: list[dict[str, Any]], channel: str, history: dict[str, Any],
        *, max_sentences: int | None = None, second_article: bool = True,
        whole_lists: bool = True,
    ) -> Answer | None:
        """The grounded answer, or None when the articles do not address the question.
        `history` ({} for none) gives the acknowledgement of earlier contact; one part of a
        several-question reply is composed with fewer sentences and from one article."""
        # Search already chose the article; a second one competes for sentences only when it
        # scored about as well (sentence vectors alone are too noisy to overrule the search).
        if results:
            floor = results[0].get("score", 0.0) - SECOND_ARTICLE_WITHIN
            results = [results[0]] + [r for r in results[1:2] if r.get("score", 0.0) >= floor]
        if results and results[0].get("policy"):
            # Found through the knowledge base's rule for features it does not describe: the
            # rule is for us; the customer gets its consequence.
            feature = feature_phrase(question)
            if not feature:
                return None
            ack = acknowledgement(history)
            text = "\n\n".join(x for x in (ack, _not_available(feature)) if x)
            return Answer(text, [results[0]["article_id"]], False)
        q_terms = content_terms(question)
        sentences = [
            _Sentence(i, p, s)
            for i, r in enumerate(results)
            for p, s in enumerate(split_sentences(r.get("body", "")))
        ]
        if not sentences:
            return None
        q_vec, *s_vecs = await self._vectors(
            [question] + [strip_list_marker(s.text) for s in sentences]
        )
        # Term overlap rewards sentences with the customer's own words, each word weighted by
        # how rare it is among the candidate sentences: "owner" decides between "I lost my
        # 2FA device" for members and for owners, "2FA" (in every candidate) does not.
        terms = [content_terms(s.text) & q_terms for s in sentences]
        df: dict[str, int] = {}
        for ts in terms:
            for t in ts:
                df[t] = df.get(t, 0) + 1
        coverable = sum(1 / n for n in df.values()) or 1.0
        best_similarity = 0.0
        for s, v, ts in zip(sentences, s_vecs, terms, strict=True):
            similarity = float(np.dot(q_vec, v))
            best_similarity = max(best_similarity, similarity)
            overlap = sum(1 / df[t] for t in ts) / coverable
            # An article's opening sentence answers its title: a small head start too. A second
            # article's sentence starts behind by what its article scored under the first in the
            # search: it takes the answer only when it beats the first's by more than that.
            s.score = (similarity + 0.25 * overlap + (0.03 if s.position == 0 else 0.0)
                       + results[s.article].get("score", 0.0) - results[0].get("score", 0.0))
        best = max(sentences, key=lambda s: s.score)
        best_overlap = len(q_terms & content_terms(best.text))
        if best_similarity < MIN_SENTENCE_SIMILARITY and best_overlap == 0:
            return None

        source = [s for s in sentences if s.article == best.article]
        limit = max_sentences or MAX_SENTENCES.get(channel, 3)
        if len(source) <= limit:
            chosen = {s.position for s in source}  # a short article is the answer, whole
        else:
            chosen = {best.position}
            for s in sorted(source, key=lambda s: -s.score):
                if len(chosen) >= limit:
                    break
                if s.score >= best.score - KEEP_WITHIN:
                    chosen.add(s.position)
        if whole_lists:
            chosen = self._whole_lists(source, chosen)
        picked = [s for s in source if s.position in chosen]

        # One sentence of the second article when it answers a part the first does not.
        covered = set().union(*(content_terms(s.text) for s in picked))
        extra = [
            s for s in sentences
            if s.article != best.article and s.score >= best.score - 0.05
            and (q_terms & content_terms(s.text)) - covered
        ]
        article_ids = [results[best.article]["article_id"]]
        lines = [s.text for s in picked]
        if extra and channel != "whatsapp" and second_article:
            top_extra = max(extra, key=lambda s: s.score)
            lines.append(strip_list_marker(top_extra.text))
            article_ids.append(results[top_extra.article]["article_id"])

        paragraphs: list[str] = []
        feature = feature_phrase(question)
        if feature:
            asked = content_terms(feature) - _GENERIC_TERMS
            seen = set().union(*(content_terms(r.get("body", "") + " " + r.get("title", ""))
                                 for r in results))
            if asked and not asked & seen:
                paragraphs.append(_not_available(feature))
        ack = acknowledgement(history)
        if ack:
            paragraphs.insert(0, ack)
        if lines:
            paragraphs.append("\n".join(lines) if any(is_list_item(x) for x in lines)
                              else " ".join(lines))
        needs_human = bool(results[best.article].get("needs_human"))
        return Answer("\n\n".join(paragraphs), article_ids, needs_human)

    @staticmethod
    def _whole_lists(source: list[_Sentence], chosen: set[int]) -> set[int]:
        """A chosen step brings its whole list and the line introducing it; a chosen
        introduction ("If the email does not arrive:") brings its list."""
        out = set(chosen)
        by_pos = {s.position: s for s in source}
        for pos in sorted(chosen):
            if is_list_item(by_pos[pos].text):
                start = end = pos
                while start - 1 in by_pos and is_list_item(by_pos[start - 1].text):
                    start -= 1
                if start - 1 in by_pos and by_pos[start - 1].text.endswith(":"):
                    start -= 1
            elif by_pos[pos].text.endswith(":"):
                start = end = pos
            else:
                continue
            while end + 1 in by_pos and is_list_item(by_pos[end + 1].text):
                end += 1
            out.update(range(start, end + 1))
        return out

    # --- the Model interface ------------------------------------------------------------

    async def _decide(self, t: _Transcript, tools: set[str]) -> tuple[list[tuple[str, dict]], str | None]:
        """The next tool calls, or the final text."""
        question = clean_question(t.user_text)
        searches = t.named("search_knowledge_base")
        escalations = t.named("escalate_to_human")
        sent = t.named("send_response")
        if sent:
            return [], sent[-1].arguments.get("message", "")
        if not question:
            # Nothing visible is left (zero-width characters, an empty tag): nothing to search.
            return [], handover.EMPTY_MESSAGE_REPLY
        linked = t.named("confirm_account_link") + t.named("request_account_link")
        if linked:
            # Account linking (issue 12): the tool's reply is the answer, word for word.
            return [("send_response", {"message": linked[-1].result().get("reply", ""),
                                       "article_ids": []})], None
        parts = split_questions(question)
        if not t.calls:
            if link_codes.is_code_reply(question) and "confirm_account_link" in tools:
                return [c for c in [("create_ticket", {}), ("confirm_account_link", {})]
                        if c[0] in tools], None
            address = linking.link_request(question)
            if address and "request_account_link" in tools:
                return [c for c in [("create_ticket", {}),
                                    ("request_account_link", {"address": address})]
                        if c[0] in tools], None
            first = [("create_ticket", {}), ("get_customer_history", {})] + [
                ("search_knowledge_base", {"query": part}) for part in parts]
            return [c for c in first if c[0] in tools], None

        history = next((c.result() for c in reversed(t.named("get_customer_history"))), {})
        channel = history.get("current_channel", "web_form")
        if len(parts) > 1:
            return await self._decide_parts(parts, searches, escalations, history, channel)
        context = _Context.of(question, history)
        relevant = [s for s in searches if s.result().get("relevant")]
        if relevant:
            results = relevant[-1].result().get("results", [])
            if relevant[-1].arguments.get("query") == FEATURE_POLICY_QUERY:
                for r in results:
                    r["policy"] = True
            from_context = context is not None and relevant[-1].arguments.get("query") == context.query
            answer = await self.compose(context.query if from_context else question, results,
                                        channel, {} if from_context else history)
            if answer is not None and from_context:
                answer.text = context.frame(answer.text, results, history)
            if answer is not None:
                if answer.needs_human and not escalations:
                    return [("escalate_to_human", {
                        "reason": "other",
                        "note": f"Answered from the knowledge base, and it needs a person: "
                                f"{question[:300]}",
                    })], None
                text = answer.text
                if escalations:
                    text += ("\n\nI've also passed this to a person on our support team. "
                             + escalations[-1].result().get("first_reply", FIRST_REPLY))
                return [("send_response", {"message": text, "article_ids": answer.article_ids})], None
        if escalations:
            handover_message = escalations[-1].result().get("handover_message", "")
            return [("send_response", {"message": handover_message, "article_ids": []})], None
        # Nothing relevant from the message alone: with the conversation's recent messages
        # (when the message leans on them), then in the articles' words.
        planned = ([context.query] if context else []) + [reformulate(question)]
        if len(searches) <= len(planned):
            return [("search_knowledge_base", {"query": planned[max(0, len(searches) - 1)]})], None
        return [_search_failed(searches)], None

    async def _part_answer(self, part: str, searches: list[_Call], channel: str,
                           n_parts: int, whole_lists: bool = True) -> Answer | None:
        """One question of several, from its own best article, in fewer sentences."""
        relevant = [s for s in searches if s.result().get("relevant")]
        if not relevant:
            return None
        results = relevant[-1].result().get("results", [])
        if relevant[-1].arguments.get("query") == FEATURE_POLICY_QUERY:
            for r in results:
                r["policy"] = True
        limit = MAX_SENTENCES.get(channel, 3)
        per_part = max(1, limit // n_parts) if channel == "whatsapp" else max(2, limit - n_parts + 1)
        return await self.compose(part, results, channel, {}, max_sentences=per_part,
                                  second_article=False, whole_lists=whole_lists)

    async def _decide_parts(
        self, parts: list[str], searches: list[_Call], escalations: list[_Call],
        history: dict[str, Any], channel: str,
    ) -> tuple[list[tuple[str, dict]], str | None]:
        """Several questions: the first turn searched once per part (in order); a part its
        search did not answer is searched once more in the articles' words; then one reply
        with every answered part in the order asked, and a person follows up on the rest."""
        n = len(parts)
        own: list[list[_Call]] = [searches[i:i + 1] for i in range(n)]
        answers = [await self._part_answer(p, own[i], channel, n) for i, p in enumerate(parts)]
        retry = [i for i in range(n) if answers[i] is None]
        second = searches[n:]
        if len(second) < len(retry):
            return [("search_knowledge_base", {"query": reformulate(parts[i])})
                    for i in retry[len(second):]], None
        for i, s in zip(retry, second, strict=False):
            own[i].append(s)
            answers[i] = await self._part_answer(parts[i], own[i], channel, n)
        answered = [i for i in range(n) if answers[i] is not None]
        failed = [i for i in range(n) if answers[i] is None]
        topics = " and ".join(f'"{short_topic(parts[i])}"' for i in failed)
        if not answered:
            if escalations:
                return [("send_response", {"message": escalations[-1].result().get(
                    "handover_message", ""), "article_ids": []})], None
            return [_search_failed(searches)], None
        needs_human = any(answers[i].needs_human for i in answered)
        if not escalations and (failed or needs_human):
            note = (f"Answered {len(answered)} of {n} questions from the knowledge base; nothing "
                    f"relevant for {topics}." if failed else
                    "Answered from the knowledge base, and it needs a person: "
                    + " / ".join(parts)[:300])
            return [("escalate_to_human", {"reason": "search_failed" if failed else "other",
                                           "note": note[:1000]})], None
        first_reply = (escalations[-1].result().get("first_reply", FIRST_REPLY)
                       if escalations else FIRST_REPLY)
        ack = acknowledgement(history)
        follow_up = ""
        if failed:
            follow_up = (f"I couldn't find the answer to {topics} in our help articles, so I've "
                         f"passed {'it' if len(failed) == 1 else 'them'} to a person on our "
                         f"support team, who will follow up. {first_reply}")
        elif needs_human:
            follow_up = f"I've also passed this to a person on our support team. {first_reply}"

        def body(found: list[Answer | None]) -> str:
            return "\n\n".join(x for x in [ack, *(a.text for a in found if a), follow_up] if x)

        text = body(answers)
        if channel == "whatsapp" and len(text) > WHATSAPP_BUDGET:
            # Three messages of 300 characters: the parts without their lists of steps.
            answers = [await self._part_answer(p, own[i], channel, n, whole_lists=False)
                       if answers[i] is not None else None for i, p in enumerate(parts)]
            text = body(answers)
        article_ids = list(dict.fromkeys(a for i in answered for a in (answers[i] or Answer(
            "", [], False)).article_ids))
        return [("send_response", {"message": text, "article_ids": article_ids})], None

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt=None,
        **_: Any,
    ) -> ModelResponse:
        transcript = _Transcript.read(input)
        calls, text = await self._decide(transcript, {t.name for t in tools})
        output: list[Any] = []
        for name, arguments in calls:
            output.append(ResponseFunctionToolCall(
                type="function_call", id=f"fc_{uuid.uuid4().hex}",
                call_id=f"call_{uuid.uuid4().hex}", name=name,
                arguments=json.dumps(arguments, ensure_ascii=False), status="completed",
            ))
        if not calls:
            output.append(ResponseOutputMessage(
                type="message", id=f"msg_{uuid.uuid4().hex}", role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=text or "", annotations=[])],
            ))
        produced = json.dumps([c for c in calls]) if calls else (text or "")
        input_tokens = _count_tokens((system_instructions or "") + "\n" + transcript.all_text)
        output_tokens = _count_tokens(produced)
        usage = Usage(requests=1, input_tokens=input_tokens, output_tokens=output_tokens,
                      total_tokens=input_tokens + output_tokens)
        return ModelResponse(output=output, usage=usage, response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt=None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Streaming is one event: the offline model has nothing to show before it is done."""
        response = await self.get_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing,
            previous_response_id=previous_response_id, conversation_id=conversation_id,
            prompt=prompt,
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            sequence_number=0,
            response=Response(
                id=f"resp_{uuid.uuid4().hex}", created_at=time.time(), model=MODEL_NAME,
                object="response", output=response.output, parallel_tool_calls=True,
                tool_choice="auto", tools=[],
            ),
        )
