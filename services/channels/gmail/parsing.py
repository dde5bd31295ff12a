"""A Gmail API message (format=full) → what the customer wrote, without quotes or noise.

Pure functions, no I/O. The body is text/plain when the mail has one, else its HTML converted
to text; quoted earlier mail is cut (Gmail/Outlook/Apple quote blocks, "On ... wrote:" tails,
"> " lines), so the agent answers the new message, not the whole thread.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

import html2text

# Labels that are never a new customer message.
SKIP_LABELS = frozenset({"SENT", "DRAFT", "SPAM", "TRASH", "CHAT"})
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-reply")
_DAEMONS = ("mailer-daemon", "postmaster")


@dataclass
class ParsedEmail:
    gmail_id: str
    thread_id: str
    from_name: str
    from_address: str
    to: list[str]
    subject: str
    message_id: str
    references: list[str]
    text: str
    received: datetime | None
    labels: list[str] = field(default_factory=list)
    attachments: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    mime_type: str = ""
    # Gmail's DMARC verdict on the From address ("pass", "fail", "none", ...); "" when Gmail's
    # Authentication-Results header is missing or speaks for another domain.
    dmarc: str = ""


def parse_gmail_message(resource: dict) -> ParsedEmail:
    payload = resource.get("payload") or {}
    headers = _headers(payload)
    name, address = parseaddr(headers.get("from", ""))
    plain: list[str] = []
    html: list[str] = []
    attachments = _collect_bodies(payload, plain, html)
    if plain:
        text = strip_quoted("\n\n".join(plain))
    elif html:
        text = strip_quoted(html_to_text("\n".join(html)))
    else:
        text = ""
    internal = resource.get("internalDate")
    return ParsedEmail(
        gmail_id=resource.get("id", ""),
        thread_id=resource.get("threadId", ""),
        from_name=name.strip(),
        from_address=address.strip().lower(),
        to=[a.lower() for _, a in getaddresses([headers.get("to", "")]) if a],
        subject=headers.get("subject", "").strip(),
        message_id=headers.get("message-id", "").strip(),
        references=headers.get("references", "").split(),
        text=text,
        received=datetime.fromtimestamp(int(internal) / 1000, tz=timezone.utc)
        if str(internal).isdigit()
        else None,
        labels=list(resource.get("labelIds") or []),
        attachments=attachments,
        headers=headers,
        mime_type=payload.get("mimeType", ""),
        dmarc=dmarc_verdict(headers.get("authentication-results", ""), address.strip().lower()),
    )


# Only the receiving server's own verdict counts: anyone can write an Authentication-Results
# header into a mail they send. Gmail prepends its header, so the first one is Gmail's
# (`_headers` keeps the first value), and it names Gmail as the authserv-id (RFC 8601).
TRUSTED_AUTHSERV_IDS = frozenset({"mx.google.com"})
_COMMENT = re.compile(r"\([^()]*\)")
_DMARC = re.compile(r"(?:^|\s)dmarc\s*=\s*([a-z]+)", re.I)
_HEADER_FROM = re.compile(r"(?:^|\s)header\.from\s*=\s*\"?([^\s;\"]+)", re.I)


def dmarc_verdict(authentication_results: str, from_address: str) -> str:
    """The DMARC result in Gmail's Authentication-Results header for the From address's domain,
    lower-cased ("pass", "fail", "none", "quarantine", ...), or "" when there is none.

    `dmarc=pass` only proves the domain named in `header.from`; a verdict for another domain
    than the From address's says nothing about this sender and reads as "".
    """
    text = " ".join(authentication_results.split())
    for _ in range(3):  # comments may nest a little: "(p=NONE (x))"
        text = _COMMENT.sub(" ", text)
    first, _, rest = text.partition(";")
    authserv_id = first.strip().split(" ")[0].lower() if first.strip() else ""
    if authserv_id not in TRUSTED_AUTHSERV_IDS:
        return ""
    for clause in rest.split(";"):
        found = _DMARC.search(clause)
        if not found:
            continue
        domain = _HEADER_FROM.search(clause)
        from_domain = from_address.rpartition("@")[2]
        if domain and domain.group(1).lower().rstrip(".") != from_domain:
            return ""
        return found.group(1).lower()
    return ""


def skip_reason(email: ParsedEmail, own_addresses: frozenset[str]) -> str | None:
    """Why this mail must not become a ticket, or None for a customer's message."""
    if SKIP_LABELS.intersection(email.labels):
        return "label " + ",".join(sorted(SKIP_LABELS.intersection(email.labels)))
    if email.from_address in own_addresses:
        return "sent by the support address"
    if not email.from_address:
        return "no sender address"
    h = email.headers
    # RFC 3834: anything but "no" is machine-generated; answering it risks a mail loop.
    if h.get("auto-submitted", "no").strip().lower() != "no":
        return "auto-submitted"
    if h.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        return "bulk precedence"
    if any(name in h for name in _AUTOREPLY_HEADERS):
        return "auto-reply header"
    if email.mime_type.lower() == "multipart/report" or email.from_address.split("@")[0] in _DAEMONS:
        return "delivery report"
    return None


# --------------------------------------------------------------------------- MIME


def _headers(part: dict) -> dict[str, str]:
    """First value of each header, names lower-cased, RFC 2047 words decoded."""
    out: dict[str, str] = {}
    for h in part.get("headers") or []:
        name = str(h.get("name", "")).lower()
        if name and name not in out:
            out[name] = _decode_words(str(h.get("value", "")))
    return out


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return _text_only(str(make_header(decode_header(value))))
    except (LookupError, ValueError, MessageError):
        # A broken encoded word (bad base64, unknown charset) is shown as sent, not fatal.
        return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_only(decoded: str) -> str:
    """Some codecs a sender may name (unicode_escape, utf-7) decode to lone surrogates, which
    are no text a protobuf string (the InboundMessage) can carry: U+FFFD instead."""
    return _SURROGATE.sub("\ufffd", decoded)


def _collect_bodies(part: dict, plain: list[str], html: list[str]) -> int:
    """Walks the MIME tree in order; returns how many attachments it skipped."""
    mime = str(part.get("mimeType", "")).lower()
    if part.get("parts"):
        if mime == "multipart/alternative":
            # Alternatives of the same content: take text/plain when there is one, else HTML.
            sub_plain: list[str] = []
            sub_html: list[str] = []
            skipped = sum(_collect_bodies(sub, sub_plain, sub_html) for sub in part["parts"])
            if sub_plain:
                plain.extend(sub_plain)
            else:
                html.extend(sub_html)
            return skipped
        return sum(_collect_bodies(sub, plain, html) for sub in part["parts"])
    headers = _headers(part)
    body = part.get("body") or {}
    disposition = headers.get("content-disposition", "").lower()
    if part.get("filename") or body.get("attachmentId") or disposition.startswith("attachment"):
        return 1
    if mime not in ("text/plain", "text/html") or not body.get("data"):
        return 0
    text = _decode_body(body["data"], headers.get("content-type", mime))
    (plain if mime == "text/plain" else html).append(text)
    return 0


def _decode_body(data: str, content_type: str) -> str:
    """Gmail's body.data is base64url (padding optional) of the part in its own charset."""
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return ""
    probe = Message()
    probe["content-type"] = content_type
    charset = (probe.get_content_charset() or "utf-8").lower()
    # Mail labelled latin-1 is in practice usually windows-1252 (curly quotes, euro sign);
    # browsers decode it so too, and cp1252 is a superset for every printable latin-1 byte.
    if charset in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        charset = "cp1252"
    try:
        return _text_only(raw.decode(charset, errors="replace"))
    except (LookupError, UnicodeError):
        # Unknown, not a text codec, or one that cannot replace what it cannot decode
        # (idna, punycode, undefined): read it as UTF-8 rather than lose the mail.
        return raw.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- HTML and quotes

_QUOTE_CLASSES = ("gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix")
# After one of these Outlook puts the quoted mail as siblings, not children: cut everything.
_CUT_AFTER_IDS = ("appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _QuoteRemover(HTMLParser):
    """Re-emits HTML without quote blocks (Gmail/Yahoo/Thunderbird divs, blockquotes) and
    without everything after an Outlook reply marker."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._stack: list[str] = []
        self._skip_depth: int | None = None
        self._cut = False

    def _skipping(self) -> bool:
        return self._cut or self._skip_depth is not None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag not in _VOID:
            self._stack.append(tag)
        if self._skipping():
            return
        classes = a.get("class", "").split()
        if a.get("id", "").lower() in _CUT_AFTER_IDS:
            self._cut = True
            return
        if tag == "blockquote" or any(c in _QUOTE_CLASSES for c in classes):
            if tag not in _VOID:
                self._skip_depth = len(self._stack) - 1
            return
        self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skipping():
            self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass
        if self._skip_depth is not None and len(self._stack) <= self._skip_depth:
            self._skip_depth = None
            return
        if not self._skipping():
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        if not self._skipping():
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self._skipping():
            self.out.append(f"&#{name};")


def html_to_text(html: str) -> str:
    remover = _QuoteRemover()
    remover.feed(html)
    remover.close()
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the agent and the ticket page wrap
    converter.ignore_images = True
    converter.ignore_emphasis = True
    text = converter.handle("".join(remover.out))
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


_ATTRIBUTION = re.compile(
    r"^[ \t]*(?:On|Le|Am|El|Em|Il|Op)\b[^\n]*(?:\n[^\n]*){0,2}?"
    r"(?:wrote|a écrit|schrieb|escribió|escreveu|ha scritto|schreef)[^\n]{0,40}:[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_OUTLOOK_HEADER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*Original Message[ \t]*-{2,}|_{10,}[ \t]*\n[ \t]*From:|From:[^\n]*\n(?:[^\n]*\n){0,2}?Sent:)",
    re.MULTILINE | re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """Drops the quoted tail of a reply and any `>` lines; keeps what the customer wrote."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cut = len(text)
    for m in _ATTRIBUTION.finditer(text):
        # An attribution names a date or an address; "On Monday my colleague wrote:" does not.
        if re.search(r"\d|@", m.group()):
            cut = min(cut, m.start())
            break
    m = _OUTLOOK_HEADER.search(text)
    if m:
        cut = min(cut, m.start())
    lines = [line.rstrip() for line in text[:cut].split("\n") if not line.lstrip().startswith(">")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
