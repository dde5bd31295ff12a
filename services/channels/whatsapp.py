"""WhatsApp through Twilio: verify and parse webhooks (for the edge), send replies (for the
dispatcher).

Inbound: Twilio POSTs a form-encoded webhook signed with the account's auth token over the URL
it called. Outbound: `messages.create` from the configured WhatsApp sender, at most
`whatsapp_max_chars` per message (split on sentence boundaries), each with a status callback
URL that carries the reply id, so delivery reports map back to
ConversationService.UpdateDeliveryStatus (which is keyed by reply id, not by Twilio's SID).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import aiohttp
import grpc
import phonenumbers
from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from services.channels.resilience import BREAKERS, BreakerRegistry, ChannelGuard, SendFailed, SendProgress
from services.channels.settings import ChannelSettings
from services.common import channels as channel_names
from services.common.retry import is_transient as is_transient_rpc

log = logging.getLogger(__name__)

CHANNEL_NAME = channel_names.name(channel_pb2.CHANNEL_WHATSAPP)
INBOUND_PATH = "/webhooks/whatsapp"
STATUS_PATH = "/webhooks/whatsapp/status"
SIGNATURE_HEADER = "X-Twilio-Signature"

# --------------------------------------------------------------------------- inbound


def webhook_url(settings: ChannelSettings, path: str, query: str = "") -> str:
    """The URL Twilio called (and signed): the public one, whatever the proxy rewrote."""
    return f"{settings.public_base_url}{path}" + (f"?{query}" if query else "")


def signature_valid(
    settings: ChannelSettings, path: str, query: str, params: Mapping[str, Any], signature: str | None
) -> bool:
    """X-Twilio-Signature check with the twilio library, over the public URL and the form.

    `params` may be a multi-dict (Starlette's FormData): repeated fields are signed by value."""
    if not signature:
        return False
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return validator.validate(webhook_url(settings, path, query), params, signature)


def normalise_number(value: str) -> str:
    """`whatsapp:+351 912 345 678` → `+351912345678`; ValueError when it is not a number."""
    raw = value.strip().removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(raw if raw.startswith("+") else f"+{raw}", None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_inbound(form: Mapping[str, str], receive_time: datetime) -> tuple[str, events_pb2.InboundMessage]:
    """Twilio's inbound webhook → (Kafka key = E.164 sender, InboundMessage).

    The idempotency key is the MessageSid: a webhook Twilio retries yields the same key, which
    RecordInbound is idempotent on, so the customer gets one ticket and one answer."""
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or not sender:
        raise ValueError("MessageSid and From are required")
    key = normalise_number(sender)
    num_media = int(form.get("NumMedia", "0")) if form.get("NumMedia", "0").isdigit() else 0
    body = (form.get("Body") or "").strip()
    if not body and num_media:
        # Media with no caption still deserves a ticket; people can open the media URLs.
        body = f"[the customer sent {num_media} attachment(s) with no text]"
    attributes = {"NumMedia": str(num_media), "To": form.get("To", "")}
    for i in range(min(num_media, 10)):
        for field in (f"MediaUrl{i}", f"MediaContentType{i}"):
            if form.get(field):
                attributes[field] = form[field]
    event = events_pb2.InboundMessage(
        idempotency_key=sid,
        channel=channel_pb2.CHANNEL_WHATSAPP,
        # Only a webhook whose Twilio signature checked out reaches here: the number is proven.
        sender=events_pb2.Sender(
            whatsapp=f"whatsapp:{key}",
            display_name=form.get("ProfileName", ""),
            assurance=sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED,
        ),
        content=body,
        thread=events_pb2.ThreadRef(external_id=sid),
        attributes=attributes,
    )
    event.receive_time.FromDatetime(receive_time)
    return key, event


# --------------------------------------------------------------------------- delivery status

_STATUS = {
    "sent": conv_pb.DELIVERY_STATUS_SENT,
    "delivered": conv_pb.DELIVERY_STATUS_DELIVERED,
    "read": conv_pb.DELIVERY_STATUS_DELIVERED,
    "failed": conv_pb.DELIVERY_STATUS_FAILED,
    "undelivered": conv_pb.DELIVERY_STATUS_FAILED,
}
_KNOWN_ERRORS = {
    "63016": "outside the WhatsApp 24-hour customer-service window (a template is needed)",
    "63024": "invalid WhatsApp recipient",
}


@dataclass(frozen=True)
class DeliveryStatusUpdate:
    """What Twilio said about one sent reply, ready for ConversationService.UpdateDeliveryStatus."""

    reply_id: str
    external_id: str
    delivery_status: int
    error: str = ""
    channel_status: str = ""
    # From the callback URL the dispatcher gave (empty for messages sent before it carried it).
    ticket_id: str = ""

    def to_request(self) -> conv_pb.UpdateDeliveryStatusRequest:
        return conv_pb.UpdateDeliveryStatusRequest(
            reply_id=self.reply_id,
            delivery_status=self.delivery_status,
            external_id=self.external_id,
            error=self.error,
        )


def parse_status_callback(form: Mapping[str, str], query: Mapping[str, str]) -> DeliveryStatusUpdate | None:
    """A status callback → an update, or None for in-between states (queued, sending, accepted).

    A reply split into n messages gets one callback per message: a failure of any part fails
    the reply; sent/delivered count only for the last part, so an early part can't report the
    whole reply delivered while a later one is still under way."""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    mapped = _STATUS.get(status)
    if mapped is None:
        return None
    part, parts = query.get("part", "1"), query.get("parts", "1")
    if mapped != conv_pb.DELIVERY_STATUS_FAILED and part != parts:
        return None
    error = ""
    if mapped == conv_pb.DELIVERY_STATUS_FAILED:
        code = form.get("ErrorCode", "")
        error = f"twilio {status}" + (
            f" {code}: {_KNOWN_ERRORS.get(code, form.get('ErrorMessage', ''))}" if code else ""
        )
    return DeliveryStatusUpdate(
        reply_id=query.get("reply_id", ""),
        external_id=form.get("MessageSid", ""),
        delivery_status=mapped,
        error=error.strip(": "),
        channel_status=status,
        ticket_id=query.get("ticket_id", ""),
    )


async def record_delivery_status(conversation, update: DeliveryStatusUpdate) -> None:
    """Records a delivery report through ConversationService (a stub); a reply WhatsApp did
    not deliver (e.g. 63016, outside the 24-hour window) also hands the ticket to a person,
    who can follow up with an approved template or on another channel. Escalating is
    idempotent per ticket and reason, so one report per failed part is harmless.

    The edge's `on_delivery_status` sink: `lambda u: record_delivery_status(stub, u)`."""
    await conversation.UpdateDeliveryStatus(update.to_request())
    if update.delivery_status != conv_pb.DELIVERY_STATUS_FAILED or not update.ticket_id:
        return
    try:
        await conversation.Escalate(
            conv_pb.EscalateRequest(
                ticket_id=update.ticket_id,
                reason=conv_pb.ESCALATION_REASON_OTHER,
                note=f"WhatsApp reply {update.reply_id} was not delivered: {update.error}",
            )
        )
    except grpc.aio.AioRpcError as err:
        if is_transient_rpc(err):
            raise  # the edge answers 503 and Twilio reports again
        # E.g. the ticket was resolved meanwhile: the failure is recorded, nothing to hand over.
        log.warning("ticket %s not escalated: %s %s", update.ticket_id, err.code().name, err.details())


# --------------------------------------------------------------------------- outbound

# A sentence ends at . ! ? or … (maybe followed by a closing quote or bracket) before spaces,
# or at a line break.
_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))[ \t]+|[ \t]*\n\s*")


def _sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, the separator that followed it: " ", "\n" or a paragraph break)."""
    pieces, pos = [], 0
    for m in _SENTENCE_BREAK.finditer(text):
        newlines = m.group().count("\n")
        pieces.append((text[pos : m.start()], "\n\n" if newlines > 1 else "\n" if newlines else " "))
        pos = m.end()
    pieces.append((text[pos:], ""))
    return [(sentence, sep) for sentence, sep in pieces if sentence.strip()]


def split_message(text: str, limit: int = 300) -> list[str]:
    """Splits text into messages of at most `limit` characters, in order, at sentence ends
    (then at spaces, then anywhere, only when one sentence or word is longer than `limit`).
    Line breaks inside a message are kept."""
    chunks: list[str] = []
    current, separator = "", ""
    for sentence, next_separator in _sentences(text):
        candidate = f"{current}{separator}{sentence}" if current else sentence
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                chunks.append(current)
            *full, current = _split_long(sentence, limit)
            chunks.extend(full)
        separator = next_separator
    chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


def _split_long(sentence: str, limit: int) -> list[str]:
    out, current = [], ""
    for word in sentence.split(" "):
        while len(word) > limit:  # a URL or token longer than a message
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = word
    out.append(current)
    return out


class OutsideServiceWindow(SendFailed):
    """WhatsApp allows free-form messages only within 24 h of the customer's last message.

    Raised before anything is sent; the dispatcher records the reply failed with `reason`
    and escalates (a person follows up with an approved template or another channel)."""


def customer_last_inbound_time(message: events_pb2.OutboundMessage) -> datetime | None:
    """When the customer last wrote, from `OutboundMessage.customer_last_inbound_time` (the
    worker copies the inbound message's receive time into it).

    None when the field is not set (e.g. a reply a person publishes by hand): the sender then
    leaves the check to Twilio, whose refusal (error 63016) arrives on the status callback and
    `record_delivery_status` fails the reply and escalates the ticket."""
    if not message.HasField("customer_last_inbound_time"):
        return None
    return message.customer_last_inbound_time.ToDatetime(tzinfo=timezone.utc)


def is_transient(exc: BaseException) -> bool:
    """Twilio errors worth another attempt: throttling, Twilio trouble, network, and auth
    failures (a credentials problem is ours to fix; the replies wait meanwhile)."""
    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        return exc.status in (401, 403, 408, 429) or exc.status >= 500
    return isinstance(exc, (aiohttp.ClientError, TimeoutError, ConnectionError))


class WhatsAppSender:
    """ChannelSender for WhatsApp. Returns the SID of the last message sent for the reply."""

    channel = channel_pb2.CHANNEL_WHATSAPP
    # Twilio accepting the message is "sent"; "delivered" arrives on the status callback.
    delivered_status = conv_pb.DELIVERY_STATUS_SENT

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        last_inbound_time: Callable[
            [events_pb2.OutboundMessage], datetime | None
        ] = customer_last_inbound_time,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        registry: BreakerRegistry = BREAKERS,
    ) -> None:
        self.settings = settings
        self.guard = ChannelGuard(CHANNEL_NAME, is_transient, settings, registry)
        self.progress = SendProgress()
        self._last_inbound_time = last_inbound_time
        self._clock = clock
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    def _twilio(self) -> Client:
        # Created on first use, inside the running loop (aiohttp's session must be).
        if self._client is None:
            # No retries inside the HTTP client: ChannelGuard owns the retry budget.
            self._http = AsyncTwilioHttpClient(timeout=self.settings.twilio_timeout_s)
            self._client = Client(
                self.settings.twilio_account_sid,
                self.settings.twilio_auth_token.get_secret_value(),
                http_client=self._http,
            )
            # The API domain's root is configurable so tests reach a local fake.
            self._client.api.base_url = self.settings.twilio_api_base_url
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http, self._client = None, None

    def check_window(self, message: events_pb2.OutboundMessage) -> None:
        last = self._last_inbound_time(message)
        if last is None:
            return
        age = self._clock() - last
        if age > timedelta(hours=self.settings.whatsapp_service_window_h):
            raise OutsideServiceWindow(
                f"outside the WhatsApp {self.settings.whatsapp_service_window_h:g}-hour customer-service "
                f"window: the customer last wrote {age.total_seconds() / 3600:.1f} h ago; "
                "a free-form reply is not allowed, a person must follow up"
            )

    async def send(self, message: events_pb2.OutboundMessage) -> str:
        try:
            to = f"whatsapp:{normalise_number(message.recipient.phone)}"
        except ValueError as exc:
            raise SendFailed(f"no valid WhatsApp number for the recipient: {exc}") from exc
        self.check_window(message)
        chunks = [c for part in message.parts for c in split_message(part, self.settings.whatsapp_max_chars)]
        if not chunks:
            raise SendFailed("the reply has no text to send")
        sent = self.progress.sent(message.reply_id)
        for index in range(len(sent), len(chunks)):
            callback = webhook_url(
                self.settings,
                STATUS_PATH,
                urlencode(
                    {
                        "reply_id": message.reply_id,
                        "ticket_id": message.ticket_id,
                        "part": index + 1,
                        "parts": len(chunks),
                    }
                ),
            )
            sid = await self.guard.call(
                "messages.create", lambda body=chunks[index], cb=callback: self._create(to, body, cb)
            )
            sent.append(sid)
        self.progress.forget(message.reply_id)
        log.info("whatsapp reply %s sent as %d message(s)", message.reply_id, len(sent))
        return sent[-1]

    async def _create(self, to: str, body: str, status_callback: str) -> str:
        try:
            created = await asyncio.wait_for(
                self._twilio().messages.create_async(
                    from_=self.settings.twilio_whatsapp_from,
                    to=to,
                    body=body,
                    status_callback=status_callback,
                ),
                timeout=self.settings.twilio_timeout_s,
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            if is_transient(exc):
                raise
            code = getattr(exc, "code", "")
            raise SendFailed(f"twilio refused the message ({exc.status} {code}): {_twilio_msg(exc)}") from exc
        return created.sid


def _twilio_msg(exc: TwilioRestException | TwilioServiceException) -> str:
    text = getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "")
    return _KNOWN_ERRORS.get(str(getattr(exc, "code", "")), str(text))[:300]
