"""Shapes a reply for its channel.

- Email: formal, a greeting and a signature, plain text plus an HTML alternative; a part holds
  at most 500 words, a longer reply is split into several emails.
- WhatsApp: concise, no markdown, at most 300 characters per message; a longer reply is split
  into up to three messages and the last one ends with "Reply for more" when text remains.
- Web form: semi-formal, at most 300 words per part.

`check_limits` re-verifies a formatted reply; the output guardrail uses it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from fte.common.v1 import channel_pb2

from services.common.text import is_list_item, split_sentences, strip_list_marker, strip_markdown
from services.common.company import COMPANY

EMAIL = channel_pb2.CHANNEL_EMAIL
WHATSAPP = channel_pb2.CHANNEL_WHATSAPP
WEB_FORM = channel_pb2.CHANNEL_WEB_FORM

EMAIL_MAX_WORDS = 500
WEB_MAX_WORDS = 300
WHATSAPP_MAX_CHARS = 300
WHATSAPP_MAX_MESSAGES = 3
REPLY_FOR_MORE = "Reply for more."
SIGNATURE = COMPANY.support_name


@dataclass
class ChannelReply:
    parts: list[str] = field(default_factory=list)
    html: str = ""
    subject: str = ""
    text: str = ""


def _first_name(name: str) -> str:
    name = " ".join(name.split())
    # An address is not a name ("Dear ada@example.com" reads as a mail merge gone wrong).
    if not name or "@" in name or any(c.isdigit() for c in name):
        return ""
    return name.split(" ")[0]


def _word_count(text: str) -> int:
    return len(text.split())


def _chunks_by_words(paragraphs: list[str], budget: int) -> list[str]:
    """Groups paragraphs (then sentences, then words) into chunks of at most `budget` words."""
    units: list[str] = []
    for p in paragraphs:
        if _word_count(p) <= budget:
            units.append(p)
            continue
        for s in split_sentences(p):
            if _word_count(s) <= budget:
                units.append(s)
            else:  # one enormous sentence: cut at word boundaries
                ws = s.split()
                units.extend(" ".join(ws[i : i + budget]) for i in range(0, len(ws), budget))
    chunks: list[list[str]] = [[]]
    for u in units:
        if chunks[-1] and _word_count("\n\n".join([*chunks[-1], u])) > budget:
            chunks.append([])
        chunks[-1].append(u)
    return ["\n\n".join(c) for c in chunks if c]


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]


def _html(paragraphs: list[str]) -> str:
    blocks = []
    for p in paragraphs:
        lines = p.splitlines()
        if all(is_list_item(line) or line.startswith("• ") for line in lines):
            ordered = lines[0].lstrip()[0].isdigit()
            items = "".join(f"<li>{html.escape(strip_list_marker(line))}</li>" for line in lines)
            blocks.append(f"<ol>{items}</ol>" if ordered else f"<ul>{items}</ul>")
        else:
            blocks.append("<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>")
    return "<!DOCTYPE html><html><body>" + "".join(blocks) + "</body></html>"


def _signature(signer: str) -> str:
    """The company's support name, after the person's name when a person wrote the reply."""
    signer = " ".join(signer.split())
    return f"{signer}\n{SIGNATURE}" if signer else SIGNATURE


def format_email(body: str, customer_name: str, subject: str, signer: str = "") -> ChannelReply:
    name = _first_name(customer_name)
    greeting = f"Dear {name}," if name else "Hello,"
    closing = f"Kind regards,\n{_signature(signer)}"
    # Markdown would show literally in the plain-text part; the HTML part carries structure.
    paragraphs = _paragraphs(strip_markdown(body))
    text = "\n\n".join([greeting, *paragraphs, closing])
    # Greeting and signature count towards the limit of the part that carries them.
    budget = EMAIL_MAX_WORDS - _word_count(greeting) - _word_count(closing) - 8
    chunks = _chunks_by_words(paragraphs, budget)
    parts = []
    for i, chunk in enumerate(chunks):
        head = greeting if i == 0 else f"(continued, part {i + 1} of {len(chunks)})"
        tail = closing if i == len(chunks) - 1 else f"(continued in part {i + 2} of {len(chunks)})"
        parts.append(f"{head}\n\n{chunk}\n\n{tail}")
    clean_subject = " ".join(subject.split())
    if clean_subject.lower().startswith("re:"):
        reply_subject = clean_subject
    else:
        reply_subject = f"Re: {clean_subject}" if clean_subject else f"Re: Your message to {SIGNATURE}"
    return ChannelReply(
        parts=parts,
        html=_html([greeting, *paragraphs, closing]),
        subject=reply_subject,
        text=text,
    )


def _split_chars(text: str, limit: int) -> list[str]:
    """Sentences packed into messages of at most `limit` characters."""
    pieces: list[str] = []
    for s in split_sentences(text):
        while len(s) > limit:  # a single over-long sentence: cut at a word boundary
            cut = s.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(s[:cut].rstrip())
            s = s[cut:].lstrip()
        if s:
            pieces.append(s)
    messages: list[str] = []
    for p in pieces:
        sep = "\n" if is_list_item(p) else " "
        if messages and len(messages[-1]) + len(sep) + len(p) <= limit:
            messages[-1] = messages[-1] + sep + p
        else:
            messages.append(p)
    return messages


def format_whatsapp(body: str, customer_name: str, whole: bool = False) -> ChannelReply:
    """`whole`: every message is kept (a person's reply is never cut; the agent's is)."""
    name = _first_name(customer_name)
    plain = strip_markdown(body).strip()
    text = f"Hi {name}! {plain}" if name else plain
    messages = _split_chars(text, WHATSAPP_MAX_CHARS)
    if len(messages) > WHATSAPP_MAX_MESSAGES and not whole:
        kept = messages[:WHATSAPP_MAX_MESSAGES]
        last = kept[-1]
        room = WHATSAPP_MAX_CHARS - len(REPLY_FOR_MORE) - 1
        while len(last) > room:  # make room by dropping whole sentences, then words
            sentences = split_sentences(last)
            if len(sentences) > 1:
                last = " ".join(sentences[:-1])
            else:
                cut = last.rfind(" ", 0, room)
                last = last[: cut if cut > 0 else room]
        kept[-1] = f"{last} {REPLY_FOR_MORE}".strip()
        messages = kept
    return ChannelReply(parts=messages, text=text)


def format_web(body: str, customer_name: str, signer: str = "") -> ChannelReply:
    name = _first_name(customer_name)
    greeting = f"Hi {name}," if name else "Hello,"
    closing = f"Best regards,\n{_signature(signer)}"
    paragraphs = _paragraphs(strip_markdown(body))
    budget = WEB_MAX_WORDS - _word_count(greeting) - _word_count(closing)
    chunks = _chunks_by_words(paragraphs, budget)
    parts = []
    for i, chunk in enumerate(chunks):
        head = greeting if i == 0 else ""
        tail = closing if i == len(chunks) - 1 else ""
        parts.append("\n\n".join(x for x in (head, chunk, tail) if x))
    return ChannelReply(parts=parts, text="\n\n".join([greeting, *paragraphs, closing]))


def format_reply(channel: int, body: str, customer_name: str = "", subject: str = "",
                 signer: str = "") -> ChannelReply:
    """The agent's replies and people's (`signer`: the person's name, signed above the
    company's on email and the web; WhatsApp messages carry no signature, and a person's reply
    is sent whole in as many 300-character messages as it takes)."""
    if channel == EMAIL:
        return format_email(body, customer_name, subject, signer)
    if channel == WHATSAPP:
        return format_whatsapp(body, customer_name, whole=bool(signer))
    return format_web(body, customer_name, signer)


_MARKDOWN = re.compile(r"\*\*|__|^#{1,6}\s|\[[^\]]+\]\([^)]+\)|```", re.M)


def check_limits(channel: int, reply: ChannelReply) -> list[str]:
    """What is wrong with a formatted reply for its channel (empty when it is fine)."""
    problems = []
    if not reply.parts:
        problems.append("no message parts")
    for i, part in enumerate(reply.parts, 1):
        if channel == WHATSAPP:
            if len(part) > WHATSAPP_MAX_CHARS:
                problems.append(f"WhatsApp message {i} has {len(part)} characters (max 300)")
            if _MARKDOWN.search(part):
                problems.append(f"WhatsApp message {i} contains markdown")
        elif channel == EMAIL and _word_count(part) > EMAIL_MAX_WORDS:
            problems.append(f"email part {i} has {_word_count(part)} words (max 500)")
        elif channel == WEB_FORM and _word_count(part) > WEB_MAX_WORDS:
            problems.append(f"web reply part {i} has {_word_count(part)} words (max 300)")
    if channel == WHATSAPP and len(reply.parts) > WHATSAPP_MAX_MESSAGES:
        problems.append(f"{len(reply.parts)} WhatsApp messages (max {WHATSAPP_MAX_MESSAGES})")
    if channel == EMAIL and not reply.html:
        problems.append("email without an HTML alternative")
    return problems
