"""Gmail sender: a reply in the customer's Gmail thread, or a new email when there is none."""

from __future__ import annotations

import html
import logging
import re
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2

from services.channels.gmail.client import GmailApi
from services.channels.resilience import SendFailed, SendProgress
from services.channels.settings import ChannelSettings
from services.common.company import COMPANY

log = logging.getLogger(__name__)

# Gmail threads replies that share the subject; more than this many references only bloats.
_MAX_REFERENCES = 20


_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:)+\s*", re.IGNORECASE)


def subject_core(subject: str) -> str:
    """The subject without any Re:/AW:/SV: prefixes."""
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: str) -> str:
    """ "Re: <original>" with exactly one Re:, whatever the original or the worker put there."""
    core = subject_core(subject)
    return f"Re: {core}" if core else "Re: your message"


def text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


class GmailSender:
    """ChannelSender for email: a reply in the customer's Gmail thread, or (with no thread,
    e.g. a web-form notification) a new email. Returns the Gmail id of the last message sent.

    Each part of `OutboundMessage.parts` (already at most 500 words) goes as its own message in
    the thread, in order. Message-IDs derive from the reply id, so a resend after a crash
    carries the same Message-ID and mail clients show it once."""

    channel = channel_pb2.CHANNEL_EMAIL
    # Gmail accepting the message is all Gmail tells us.
    delivered_status = conv_pb.DELIVERY_STATUS_SENT

    def __init__(
        self, settings: ChannelSettings, api: GmailApi, from_name: str = COMPANY.support_name
    ) -> None:
        self.settings = settings
        self.api = api
        self.from_name = from_name
        self.progress = SendProgress()

    async def send(self, message: events_pb2.OutboundMessage) -> str:
        if not message.recipient.email:
            raise SendFailed("the reply has no recipient email address")
        parts = [p for p in message.parts if p.strip()]
        if not parts:
            raise SendFailed("the reply has no text to send")
        sent = self.progress.sent(message.reply_id)
        for index in range(len(sent), len(parts)):
            html_body = message.html if len(parts) == 1 and message.html else text_to_html(parts[index])
            mime = self.compose(message, parts[index], html_body, index)
            result = await self.api.send(mime.as_bytes(), message.thread.thread_id)
            sent.append(result.get("id", ""))
        self.progress.forget(message.reply_id)
        log.info("email reply %s sent as %d message(s)", message.reply_id, len(sent))
        return sent[-1]

    def compose(
        self, message: events_pb2.OutboundMessage, text: str, html_body: str, index: int
    ) -> EmailMessage:
        thread = message.thread
        is_reply = bool(thread.thread_id or thread.message_id)
        domain = self.settings.gmail_support_address.partition("@")[2] or "localhost"
        mime = EmailMessage()
        mime["From"] = formataddr((self.from_name, self.settings.gmail_support_address))
        mime["To"] = formataddr((message.recipient.display_name, message.recipient.email))
        mime["Subject"] = (
            reply_subject(message.subject) if is_reply else (message.subject or "Your support request")
        )
        mime["Date"] = formatdate(localtime=False, usegmt=True)
        mime["Message-ID"] = f"<{_MSGID_UNSAFE.sub('-', message.reply_id)}.{index + 1}@{domain}>"
        if thread.message_id:
            mime["In-Reply-To"] = thread.message_id
            references = [r for r in thread.references if r != thread.message_id] + [thread.message_id]
            mime["References"] = " ".join(references[-_MAX_REFERENCES:])
        # RFC 3834: tells well-behaved autoresponders not to answer us (no mail loops).
        mime["Auto-Submitted"] = "auto-replied" if is_reply else "auto-generated"
        mime.set_content(text)
        mime.add_alternative(html_body or text_to_html(text), subtype="html")
        return mime
