"""What a team is told about an escalation, and where: pure functions, no I/O.

Routing is configuration (`services/common/teams.toml`, TEAM_<NAME>_EMAIL and
TEAM_<NAME>_WEBHOOK_URL over it); the notifier (`notifier.py`) fetches the context over gRPC,
asks `pending` what is still to send, and sends what `email_message` and `webhook_body` make.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC

from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from google.protobuf.message import DecodeError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import channels
from services.common.teams import Teams

EMAIL = "email"
WEBHOOK = "webhook"
TRANSPORTS = (EMAIL, WEBHOOK)

# A message longer than this is cut in the notification: the inbox link has the whole of it.
MESSAGE_CHARS = 500


class MalformedEscalation(ValueError):
    """A record on fte.escalations that names no escalation or ticket: it can never notify."""


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Destination:
    """Where one team is notified; an empty address or URL means not by that transport."""

    team: str
    email: str = ""
    webhook_url: str = ""

    def deliveries(self) -> list[Delivery]:
        found = []
        if self.email:
            found.append(Delivery(self.team, EMAIL, self.email))
        if self.webhook_url:
            found.append(Delivery(self.team, WEBHOOK, self.webhook_url))
        return found


@dataclass(frozen=True)
class Delivery:
    """One notification to send: a team over one transport, to an address or a URL."""

    team: str
    transport: str
    target: str = field(repr=False)  # a team address or a webhook URL (may hold a secret)

    @property
    def key(self) -> tuple[str, str]:
        return self.team, self.transport


class _TeamOverrides(BaseSettings):
    """TEAM_<NAME>_EMAIL / TEAM_<NAME>_WEBHOOK_URL (the prefix is given per team)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    email: str | None = None  # None: the address in teams.toml; "" turns email off
    webhook_url: str = ""


@dataclass(frozen=True)
class Routes:
    teams: Teams
    destinations: Mapping[str, Destination]

    def team_for(self, reason: int) -> str:
        return self.teams.team_for(reason_name(reason))

    def destination(self, team: str) -> Destination:
        return self.destinations.get(team, Destination(team))


def routes_from(teams: Teams) -> Routes:
    """Each team's destination: teams.toml's address, overridden by TEAM_<NAME>_EMAIL (empty:
    no email) and TEAM_<NAME>_WEBHOOK_URL from the environment."""
    destinations = {}
    for team in teams.emails:
        overrides = _TeamOverrides(_env_prefix=f"team_{team}_")
        email = teams.emails[team] if overrides.email is None else overrides.email
        destinations[team] = Destination(team, email.strip(), overrides.webhook_url.strip())
    return Routes(teams, destinations)


def pending(deliveries: Iterable[Delivery], sent: Iterable[tuple[str, str]]) -> list[Delivery]:
    """The deliveries not made yet: a redelivered escalation notifies each (team, transport) once."""
    done = set(sent)
    return [d for d in deliveries if d.key not in done]


# --------------------------------------------------------------------------- content


def reason_name(reason: int) -> str:
    """ESCALATION_REASON_PRICING → "pricing"; an unknown number → "other"."""
    try:
        return conv_pb.EscalationReason.Name(reason).removeprefix("ESCALATION_REASON_").lower()
    except ValueError:
        return "other"


def channel_label(channel: int) -> str:
    try:
        return channels.name(channel)
    except ValueError:
        return "unknown"


def inbox_link(public_base_url: str, escalation_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/inbox/#/escalations/{escalation_id}"


@dataclass(frozen=True)
class Line:
    """One message of the customer's recent history, as the notification shows it."""

    time: str  # ISO 8601, UTC
    channel: str
    author: str  # customer, agent, human, system
    text: str


@dataclass(frozen=True)
class Context:
    """What the services told about the escalation (any part may be missing: see `gaps`)."""

    customer_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    # False when the channel only claimed the sender's address (a web form without identity
    # token): the identifiers are of the customer owning that address, not proven to be the sender's.
    sender_verified: bool = True
    subject: str = ""
    messages: tuple[Line, ...] = ()
    # The id the operator inbox knows the escalation by (the one ConversationService stored);
    # empty: the event's own id is used.
    stored_escalation_id: str = ""
    gaps: tuple[str, ...] = ()  # e.g. ("customer",): the call failed; the rest still notifies


def _time(ts) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _author(role: int) -> str:
    try:
        return conv_pb.MessageRole.Name(role).removeprefix("MESSAGE_ROLE_").lower()
    except ValueError:
        return "unknown"


def _cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def context_from(
    event: events_pb2.Escalation,
    ticket: conv_pb.GetTicketResponse | None,
    history: conv_pb.GetHistoryResponse | None,
    customer: id_pb.GetCustomerResponse | None,
) -> Context:
    """The context from the three answers (None: that call failed for good)."""
    emails: list[str] = []
    phones: list[str] = []
    name = ""
    if customer is not None:
        name = customer.customer.display_name
        for identifier in customer.customer.identifiers:
            if identifier.type == id_pb.IDENTIFIER_TYPE_EMAIL:
                emails.append(identifier.value)
            elif identifier.type == id_pb.IDENTIFIER_TYPE_PHONE:
                phones.append(identifier.value)
    verified = True
    subject = ""
    stored = ""
    if ticket is not None:
        subject = ticket.ticket.subject
        inbound = [m for m in ticket.messages if m.direction == conv_pb.MESSAGE_DIRECTION_INBOUND]
        verified = not inbound or any(
            m.sender_assurance != sender_assurance_pb2.SENDER_ASSURANCE_CLAIMED for m in inbound
        )
        same_reason = [e for e in ticket.escalations if e.reason == event.reason]
        if same_reason:
            stored = same_reason[-1].escalation_id  # Escalate is idempotent per ticket and reason
    lines = tuple(
        Line(_time(m.create_time), channel_label(m.channel), _author(m.role), _cut(m.content))
        for m in (history.messages if history is not None else ())
    )
    gaps = tuple(what for what, answer in (("ticket", ticket), ("history", history), ("customer", customer))
                 if answer is None)
    return Context(name, tuple(emails), tuple(phones), verified, subject, lines, stored, gaps)


@dataclass(frozen=True)
class Notification:
    """Everything a team is told about one escalation."""

    escalation_id: str  # the event's id: what idempotency is keyed by
    inbox_escalation_id: str  # what the link opens
    ticket_id: str
    customer_id: str
    team: str
    reason: str
    channel: str
    note: str
    link: str
    context: Context

    @property
    def title(self) -> str:
        who = self.context.customer_name or "A customer"
        return f"Escalation for {self.team}: {self.reason.replace('_', ' ')} — {who} on {self.channel}"

    def text(self) -> str:
        """The plain text of the email and the webhook's `text` field."""
        c = self.context
        lines = [self.title, "", f"Open it in the inbox: {self.link}", ""]
        lines.append(f"Customer: {c.customer_name or '(no name given)'}")
        if c.emails:
            lines.append("Email: " + ", ".join(c.emails))
        if c.phones:
            lines.append("Phone / WhatsApp: " + ", ".join(c.phones))
        if not c.sender_verified:
            lines.append("Careful: the sender only claimed this address (not verified by the channel).")
        lines += [f"Channel: {self.channel}", f"Reason: {self.reason}", f"Team: {self.team}"]
        if c.subject:
            lines.append(f"Subject: {c.subject}")
        lines.append(f"Ticket: {self.ticket_id}")
        lines += ["", "Agent's note:", self.note or "(none)"]
        if c.messages:
            lines += ["", f"Last {len(c.messages)} message(s), all channels, oldest first:"]
            lines += [f"[{m.time} {m.channel}] {m.author}: {m.text}" for m in c.messages]
        if c.gaps:
            lines += ["", "Not available when this was sent: " + ", ".join(c.gaps) + " (see the inbox)."]
        return "\n".join(lines)


def build(
    event: events_pb2.Escalation, team: str, context: Context, public_base_url: str
) -> Notification:
    inbox_id = context.stored_escalation_id or event.escalation_id
    return Notification(
        escalation_id=event.escalation_id,
        inbox_escalation_id=inbox_id,
        ticket_id=event.ticket_id,
        customer_id=event.customer_id,
        team=team,
        reason=reason_name(event.reason),
        channel=channel_label(event.channel),
        note=event.note,
        link=inbox_link(public_base_url, inbox_id),
        context=context,
    )


def decode(value: bytes | None) -> events_pb2.Escalation:
    """The record's Escalation; MalformedEscalation when it is none or lacks its ids."""
    try:
        event = events_pb2.Escalation.FromString(value or b"")
    except DecodeError as exc:
        raise MalformedEscalation(f"not an Escalation: {exc}") from exc
    if not event.escalation_id or not event.ticket_id:
        raise MalformedEscalation("escalation_id and ticket_id are required")
    return event


def webhook_body(n: Notification) -> dict:
    """Slack-compatible (`text`), with the same facts as fields for other receivers."""
    c = n.context
    return {
        "text": n.text(),
        "escalation_id": n.inbox_escalation_id,
        "event_id": n.escalation_id,
        "ticket_id": n.ticket_id,
        "team": n.team,
        "reason": n.reason,
        "channel": n.channel,
        "note": n.note,
        "link": n.link,
        "customer": {
            "customer_id": n.customer_id,
            "name": c.customer_name,
            "emails": list(c.emails),
            "phones": list(c.phones),
            "sender_verified": c.sender_verified,
        },
        "subject": c.subject,
        "messages": [
            {"time": m.time, "channel": m.channel, "author": m.author, "text": m.text} for m in c.messages
        ],
        "missing": list(c.gaps),
    }


def delivery_id(n: Notification, delivery: Delivery) -> str:
    """The same on every redelivery: the email's reply id (its Message-ID) and the webhook's
    Idempotency-Key, so a receiver can drop a copy sent again after a crash."""
    return f"escalation-{n.escalation_id}-{delivery.team}-{delivery.transport}"


def email_message(n: Notification, delivery: Delivery) -> events_pb2.OutboundMessage:
    """The team's email, for the dispatcher's Gmail sender. It names no ticket: the dispatcher
    only sends it (a ticket id would make it record the text as a reply to the customer)."""
    message = events_pb2.OutboundMessage(
        reply_id=delivery_id(n, delivery),
        customer_id=n.customer_id,
        channel=channel_pb2.CHANNEL_EMAIL,
        recipient=events_pb2.Recipient(email=delivery.target, display_name=f"{n.team.capitalize()} team"),
        parts=[n.text()],
        subject=n.title,
        escalated=True,
    )
    message.create_time.GetCurrentTime()
    return message
