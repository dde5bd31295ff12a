"""The rules of conversations and tickets, with no gRPC and no SQL: the 24 h window, channel
switches, the ticket state machine, delivery-status progress, escalation context and a small
sentiment estimate. `store.py` asks these functions what to write."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.errors import FailedPrecondition, InvalidArgument

# A conversation ends after this much silence; the next message, on any channel, starts another.
WINDOW = timedelta(hours=24)
# The web form's categories; other channels send none.
CATEGORIES = ("", "general", "technical", "billing", "feedback", "bug_report")

OPEN, PROCESSING, RESOLVED, ESCALATED = "open", "processing", "resolved", "escalated"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OPEN: (PROCESSING,),
    PROCESSING: (RESOLVED, ESCALATED),
    ESCALATED: (RESOLVED,),
    RESOLVED: (),
}
# Escalate may hand over a ticket that was never picked up (e.g. processing failed at once),
# and a second reason may be added to an escalated one; a resolved ticket is done.
ESCALATABLE = (OPEN, PROCESSING, ESCALATED)
# The note on the move to processing when RecordInbound makes it (begin_processing).
ANSWERING = "the AI assistant is answering"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChannelSwitch:
    from_channel: str
    to_channel: str
    switch_time: datetime
    message_id: uuid.UUID


@dataclass(frozen=True)
class Conversation:
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    initial_channel: str
    current_channel: str
    start_time: datetime
    last_message_time: datetime
    message_count: int
    channel_switches: list[ChannelSwitch] = field(default_factory=list)


@dataclass(frozen=True)
class Ticket:
    ticket_id: uuid.UUID
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    source_channel: str
    category: str
    priority: str
    status: str
    subject: str
    create_time: datetime
    update_time: datetime
    resolve_time: datetime | None


@dataclass(frozen=True)
class Message:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    ticket_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    direction: str
    role: str
    content: str
    subject: str
    create_time: datetime
    delivery_status: str | None
    reply_id: str | None
    idempotency_key: str | None
    sentiment: float | None
    thread_ref: str
    sender_name: str
    # Inbound: "verified" or "claimed"; None on outbound messages and older inbound ones.
    sender_assurance: str | None = None


@dataclass(frozen=True)
class Escalation:
    escalation_id: uuid.UUID
    ticket_id: uuid.UUID
    reason: str
    note: str
    context_json: str
    create_time: datetime
    team: str = ""
    reply_due_time: datetime | None = None


@dataclass(frozen=True)
class Inbound:
    """A validated RecordInbound request."""

    customer_id: uuid.UUID
    channel: str
    idempotency_key: str
    content: str
    subject: str
    thread_ref: str
    sender_name: str
    category: str
    priority: str
    requested_ticket_id: uuid.UUID | None
    receive_time: datetime | None
    sender_assurance: str = "verified"
    # The agent answers next: the new ticket moves on to processing unless a person holds it.
    begin_processing: bool = False


@dataclass(frozen=True)
class InboundResult:
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    ticket_id: uuid.UUID
    message_id: uuid.UUID
    duplicate: bool
    new_conversation: bool
    channel_switch: ChannelSwitch | None
    # The display name of the person holding the conversation (a claimed escalation); "" if none.
    held_by: str = ""
    hold_notice_due: bool = False
    # The ticket's status after the call (on a duplicate, now).
    ticket_status: str = OPEN


@dataclass(frozen=True)
class Outbound:
    """A validated RecordOutbound request (channel None: the ticket's own channel)."""

    ticket_id: uuid.UUID
    content: str
    channel: str | None
    reply_id: str
    role: str
    input_tokens: int
    output_tokens: int
    latency_ms: int | None
    tool_calls: list[dict[str, Any]]
    delivery_status: str


@dataclass(frozen=True)
class Attachment:
    """Where an inbound message goes: a new conversation or the open one, and whether it
    switches channel inside that conversation."""

    new_conversation: bool
    close_open_one: bool
    switch_from: str | None


def message_time(receive_time: datetime | None, now: datetime) -> datetime:
    """When the channel received it, never in the future of our own clock (a skewed sender
    must not keep a conversation open or push history order)."""
    return now if receive_time is None else min(receive_time, now)


def attach(open_conversation: Conversation | None, channel: str, at: datetime) -> Attachment:
    """One open conversation per customer, any channel; 24 h of silence ends it."""
    if open_conversation is None:
        return Attachment(True, False, None)
    if at - open_conversation.last_message_time >= WINDOW:
        return Attachment(True, True, None)
    switched = open_conversation.current_channel != channel
    return Attachment(False, False, open_conversation.current_channel if switched else None)


def visible_status(stored: str, last_message_time: datetime, now: datetime) -> str:
    """An active conversation silent for 24 h is over even before the next message closes it.
    An escalated one stays escalated: people are on it."""
    if stored == "active" and now - last_message_time >= WINDOW:
        return "closed"
    return stored


def keep_open(open_conversations: list[Conversation]) -> tuple[Conversation | None, list[Conversation]]:
    """A merge can leave a customer with two open conversations; one stays open, the others
    close. An escalated one wins over an active one (people are on it, and the customer's next
    message must reach them), then the more recently active."""
    ranked = sorted(
        open_conversations,
        key=lambda c: (c.status == ESCALATED, c.last_message_time),
        reverse=True,
    )
    return (ranked[0], ranked[1:]) if ranked else (None, [])


def same_message(stored: Any, m: Inbound) -> bool:
    """Whether a message arriving under a used ticket id (and another key) is the one the
    ticket already holds — a retry that regenerated its key — rather than a new one."""
    return (stored["channel"], stored["content"], stored["subject"]) == (m.channel, m.content, m.subject)


def ticket_subject(subject: str, content: str) -> str:
    """The subject the customer gave, else the start of what they wrote (WhatsApp has none)."""
    text = " ".join((subject or content).split())
    return text if len(text) <= 80 else text[:79] + "…"


def sources_of(requested: str) -> list[str]:
    """The states the machine lets a ticket move to `requested` from."""
    return [s for s, allowed in TRANSITIONS.items() if requested in allowed]


def check_transition(current: str, requested: str) -> bool:
    """Returns False when the ticket is already in `requested` (a retried update changes
    nothing); refuses anything the state machine does not allow, naming what it does."""
    if requested == current:
        return False
    allowed = TRANSITIONS[current]
    if requested not in allowed:
        options = ", ".join(f"{current}→{s}" for s in allowed) or "none (resolved is final)"
        raise FailedPrecondition(
            f"ticket is {current}: cannot move to {requested}; allowed from {current}: {options}"
            f" (the full machine: open→processing→resolved|escalated, escalated→resolved)"
        )
    return True


def check_escalatable(status: str) -> None:
    if status not in ESCALATABLE:
        raise FailedPrecondition(
            f"ticket is {status}: only open, processing or escalated tickets can be escalated"
        )


_DELIVERY_RANK = {"pending": 0, "sent": 1, "delivered": 2, "failed": 2}


def next_delivery_status(current: str, reported: str) -> str:
    """Channel callbacks arrive late and out of order (Twilio may say `sent` after
    `delivered`): a status only moves forward, and the first final one (delivered or
    failed) stays."""
    return reported if _DELIVERY_RANK[reported] > _DELIVERY_RANK[current] else current


def delivery_statuses_moved_by(reported: str) -> list[str]:
    """The stored statuses a report of `reported` moves (`next_delivery_status`), for the
    store's one-statement update."""
    return [s for s in _DELIVERY_RANK if next_delivery_status(s, reported) != s]


# --- sentiment ------------------------------------------------------------------------------
# A deliberately tiny lexicon, deterministic and explainable: (positive - negative) / words
# that carry a polarity, in -1..1, where a negator right before a word flips it ("not good",
# "never works"). It feeds GetChannelMetrics' average, not any decision about one customer.
_POSITIVE = frozenset(
    "thanks thank great love awesome perfect helpful happy excellent appreciate good nice "
    "amazing wonderful resolved works working fantastic glad pleased".split()
)
_NEGATIVE = frozenset(
    "angry terrible awful worst hate useless broken ridiculous unacceptable frustrated "
    "frustrating disappointed annoyed horrible bad scam fail failed failing slow wrong "
    "furious waste lawyer lawsuit cancel".split()
)
_NEGATORS = frozenset("not no don't doesn't didn't isn't wasn't can't cannot never".split())
_WORD = re.compile(r"[a-z']+")


def sentiment(text: str) -> float:
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    score = hits = 0
    for i, word in enumerate(words):
        polarity = (word in _POSITIVE) - (word in _NEGATIVE)
        if polarity and i and words[i - 1] in _NEGATORS:
            polarity = -polarity
        score += polarity
        hits += bool(polarity)
    return round(score / hits, 3) if hits else 0.0


# --- escalation context --------------------------------------------------------------------


def escalation_context(
    ticket: Ticket, conversation: Conversation, messages: list[Message], customer: dict[str, Any]
) -> dict[str, Any]:
    """Everything a person needs without opening another tool. `customer` holds the addresses
    IdentityService knows (email, phone, WhatsApp), asked when the escalation is raised."""
    return {
        "ticket": {
            "ticket_id": str(ticket.ticket_id),
            "status": ticket.status,
            "source_channel": ticket.source_channel,
            "category": ticket.category,
            "priority": ticket.priority,
            "subject": ticket.subject,
            "create_time": ticket.create_time.isoformat(),
        },
        "customer_id": str(ticket.customer_id),
        "customer": customer,
        "conversation": {
            "conversation_id": str(conversation.conversation_id),
            "status": conversation.status,
            "initial_channel": conversation.initial_channel,
            "current_channel": conversation.current_channel,
            "start_time": conversation.start_time.isoformat(),
        },
        "channels": sorted({m.channel for m in messages} | {ticket.source_channel}),
        "channel_switches": [
            {
                "from": s.from_channel,
                "to": s.to_channel,
                "at": s.switch_time.isoformat(),
                "message_id": str(s.message_id),
            }
            for s in conversation.channel_switches
        ],
        "thread_refs": sorted({m.thread_ref for m in messages if m.thread_ref}),
        "sender_names": sorted({m.sender_name for m in messages if m.sender_name}),
        "messages": [
            {
                "message_id": str(m.message_id),
                "ticket_id": str(m.ticket_id),
                "channel": m.channel,
                "direction": m.direction,
                "role": m.role,
                "subject": m.subject,
                "content": m.content,
                "time": m.create_time.isoformat(),
            }
            for m in messages
        ],
    }


# Replaces personal text that has to stay a row (GDPR erasure): the row still counts.
TOMBSTONE = "[erased]"


def erased_inbound(m: Inbound) -> Inbound:
    """A message for a customer already erased, as the erasure would have left it."""
    return dataclasses.replace(m, **{
        name: TOMBSTONE for name in ("content", "subject", "thread_ref", "sender_name")
        if getattr(m, name)
    })


def erased_outbound(o: Outbound) -> Outbound:
    return dataclasses.replace(
        o, content=TOMBSTONE if o.content else "",
        tool_calls=[{**call, "arguments_json": TOMBSTONE} for call in o.tool_calls],
    )


def erased_context(context: dict[str, Any]) -> dict[str, Any]:
    """An escalation context with nothing personal left: only the parts known to hold ids,
    channels, statuses and times are kept (so a key added to the context later is dropped,
    not leaked); message contents and subjects become the tombstone."""
    ticket = context.get("ticket") or {}
    conversation = context.get("conversation") or {}
    return {
        "erased": True,
        "ticket": {key: ticket[key] for key in (
            "ticket_id", "status", "source_channel", "category", "priority", "create_time")
            if key in ticket} | ({"subject": TOMBSTONE} if ticket.get("subject") else {}),
        "customer_id": context.get("customer_id"),
        "customer": {"erased": True},
        "conversation": {key: conversation[key] for key in (
            "conversation_id", "status", "initial_channel", "current_channel", "start_time")
            if key in conversation},
        "channels": context.get("channels") or [],
        "channel_switches": context.get("channel_switches") or [],
        "thread_refs": [],
        "sender_names": [],
        "messages": [
            {key: m[key] for key in (
                "message_id", "ticket_id", "channel", "direction", "role", "time") if key in m}
            | {"subject": TOMBSTONE if m.get("subject") else "",
               "content": TOMBSTONE if m.get("content") else ""}
            for m in context.get("messages") or []
        ],
    }


def completes_customer(stored_context: dict[str, Any], customer: dict[str, Any]) -> bool:
    """An escalation raised while IdentityService could not be asked is frozen without the
    customer's addresses; a repeated Escalate that does reach it fills them in."""
    before = stored_context.get("customer") or {"lookup": "failed"}
    return before.get("lookup") == "failed" and customer.get("lookup") != "failed"


def check_category(category: str) -> str:
    category = category.strip().lower()
    if category not in CATEGORIES:
        raise InvalidArgument(
            f"category: {category!r} is not one of {', '.join(c for c in CATEGORIES if c)} (or empty)"
        )
    return category
