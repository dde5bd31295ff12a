"""What the outside world does in the channel e2e tests — Twilio posting signed webhooks, a
customer's mail arriving in Gmail and Pub/Sub pushing the change — and how the tests see the
outcome: what the fake Twilio and Gmail were asked to send, and the customer's history over
gRPC (IdentityService.LookupCustomer + ConversationService.GetHistory)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.identity.v1 import identity_service_pb2 as id_pb

from tests import polling
from tests.e2e.conftest import SUPPORT_ADDRESS, WHATSAPP_FROM, ChannelFakes
from tests.fakes.gmail import SentMessage
from tests.fakes.google_oidc import push_body, push_headers
from tests.fakes.twilio import inbound_params, post_webhook, status_params

T = TypeVar("T")

WHATSAPP_PATH = "/webhooks/whatsapp"
GMAIL_PATH = "/webhooks/gmail"


async def until(probe: Callable[[], T | Awaitable[T]], what: str, timeout: float = 120) -> T:
    return await polling.until(probe, what, timeout, every=0.3)


# --------------------------------------------------------------------------- WhatsApp


def new_phone() -> str:
    """A fresh, valid Portuguese mobile number in E.164 (one customer per test)."""
    return "+35191" + "".join(secrets.choice("0123456789") for _ in range(7))


def new_message_sid() -> str:
    return "SM" + secrets.token_hex(16)


async def post_whatsapp(
    fakes: ChannelFakes,
    phone: str,
    body: str,
    *,
    sid: str | None = None,
    signature: str | None = "sign",
    profile: str = "Ana",
) -> httpx.Response:
    """Twilio delivering an inbound WhatsApp message to the edge, signed with the twilio
    library over PUBLIC_BASE_URL + path (what Twilio was configured with)."""
    params = inbound_params(
        fakes.twilio.account_sid, sid or new_message_sid(), f"whatsapp:{phone}", WHATSAPP_FROM, body, profile
    )
    return await asyncio.to_thread(
        post_webhook,
        fakes.public_base_url,
        f"{fakes.public_base_url}{WHATSAPP_PATH}",
        params,
        fakes.twilio.auth_token,
        signature=signature,
    )


def twilio_sent_to(fakes: ChannelFakes, phone: str) -> list[dict[str, str]]:
    """Messages.create calls the fake Twilio accepted for this customer, in order."""
    return [m for m in list(fakes.twilio.messages) if m.get("To") == f"whatsapp:{phone}"]


def callback_query(message: dict[str, str]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(message["StatusCallback"]).query).items()}


async def post_status(
    fakes: ChannelFakes, message: dict[str, str], status: str, error_code: str = ""
) -> httpx.Response:
    """Twilio calling a message's StatusCallback (the URL the dispatcher gave, query included)."""
    url = message["StatusCallback"]
    return await asyncio.to_thread(
        post_webhook,
        fakes.public_base_url,
        url,
        status_params(fakes.twilio.account_sid, message, status, error_code),
        fakes.twilio.auth_token,
    )


async def whatsapp_answer(fakes: ChannelFakes, phone: str, after: int = 0, timeout: float = 120) -> list[dict]:
    """The messages of the next whole reply sent to `phone` (after the first `after` messages):
    every part of it, which the StatusCallback numbers part=i of parts=n."""

    async def probe():
        sent = twilio_sent_to(fakes, phone)[after:]
        if not sent:
            return None
        first = callback_query(sent[0])
        parts = [m for m in sent if callback_query(m)["reply_id"] == first["reply_id"]]
        return parts if len(parts) == int(first["parts"]) else None

    return await until(probe, f"a WhatsApp answer to {phone}", timeout)


# --------------------------------------------------------------------------- Gmail


def new_email_address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def customer_email(
    sender: str, subject: str, text: str, *, name: str = "Grace Hopper", references: tuple[str, ...] = (),
    dmarc: str | None = "pass",
) -> EmailMessage:
    """A plain customer mail as a mail client sends it; replying to `references` when given.
    As Gmail delivers it: topped by the Authentication-Results header Gmail's MX adds, with the
    `dmarc` verdict for the sender's domain (None: no such header)."""
    mime = EmailMessage()
    if dmarc is not None:
        domain = sender.rpartition("@")[2]
        mime["Authentication-Results"] = (
            f"mx.google.com; dkim=pass header.i=@{domain} header.s=s1 header.b=e2eSig;"
            f" spf=pass (google.com: domain of {sender} designates 192.0.2.10 as permitted sender)"
            f" smtp.mailfrom={sender}; dmarc={dmarc} (p=REJECT sp=REJECT dis=NONE) header.from={domain}"
        )
    mime["From"] = formataddr((name, sender))
    mime["To"] = formataddr(("Flowboard Support", SUPPORT_ADDRESS))
    mime["Subject"] = subject
    mime["Message-ID"] = make_msgid(domain="mail.example.com")
    mime["Date"] = "Mon, 3 Mar 2025 10:15:00 +0000"
    if references:
        mime["In-Reply-To"] = references[-1]
        mime["References"] = " ".join(references)
    mime.set_content(text)
    return mime


async def push_gmail(
    fakes: ChannelFakes, http: httpx.AsyncClient, token: str | None = None
) -> httpx.Response:
    """Pub/Sub pushing "the support mailbox changed" to the edge, with an OIDC token minted by
    the fake Google for the subscription's audience (or `token`)."""
    token = token if token is not None else fakes.google.mint(fakes.pubsub_audience)
    return await http.post(
        GMAIL_PATH,
        content=push_body(SUPPORT_ADDRESS, fakes.gmail.history_id),
        headers=push_headers(token),
    )


async def email_customer(fakes: ChannelFakes, http: httpx.AsyncClient, mime: EmailMessage) -> str:
    """The mail arrives in the support mailbox and Gmail notifies us; returns its Gmail id."""
    gmail_id = fakes.gmail.deliver(mime)
    pushed = await push_gmail(fakes, http)
    assert pushed.status_code == 204, pushed.text
    return gmail_id


def gmail_sent_to(fakes: ChannelFakes, address: str) -> list[SentMessage]:
    """users.messages.send calls the fake Gmail accepted for this customer, in order."""
    return [s for s in list(fakes.gmail.sent) if address in str(s.mime["To"])]


async def email_answer(fakes: ChannelFakes, address: str, timeout: float = 120) -> SentMessage:
    sent = await until(lambda: gmail_sent_to(fakes, address), f"an email to {address}", timeout)
    return sent[0]


# --------------------------------------------------------------------------- the customer's side


async def find_customer(identity, *, email: str = "", phone: str = "") -> id_pb.Customer | None:
    try:
        reply = await identity.LookupCustomer(id_pb.LookupCustomerRequest(email=email, phone=phone))
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return reply.customer


async def history(identity, conversation, *, email: str = "", phone: str = "") -> list[conv_pb.Message]:
    """The customer's messages across channels, oldest first ([] when there is no customer)."""
    customer = await find_customer(identity, email=email, phone=phone)
    if customer is None:
        return []
    reply = await conversation.GetHistory(conv_pb.GetHistoryRequest(customer_id=customer.customer_id, limit=50))
    return list(reply.messages)


def inbound(messages: list[conv_pb.Message]) -> list[conv_pb.Message]:
    return [m for m in messages if m.direction == conv_pb.MESSAGE_DIRECTION_INBOUND]
