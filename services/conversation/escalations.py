"""The rules of the escalation queue (fte.handoff.v1.HandoffService), with no gRPC and no SQL:
who may claim, reply, resolve and reopen, the state each move leaves, the opaque page tokens of
ListEscalations, and when a held conversation's customer gets a notice. `handoff_store.py`
asks these functions what to write."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common import business_hours
from services.common.errors import FailedPrecondition, InvalidArgument

OPEN, CLAIMED, RESOLVED = "open", "claimed", "resolved"
STATES = (OPEN, CLAIMED, RESOLVED)
DEFAULT_STATES = (OPEN, CLAIMED)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_REPLY = 10_000
MAX_NOTE = 2_000
MAX_KEY = 200
# At most one "your message was added" notice per held conversation in this time.
NOTICE_INTERVAL = timedelta(hours=1)

# People's replies get reply ids of their own (the messages' reply_id is unique): a UUIDv5 of
# the escalation and the caller's idempotency key, so a retry finds the first reply.
_REPLY_NS = uuid.UUID("6f1d4c8e-2b7a-4e55-9a3c-0d5e8b1f7a42")


@dataclass(frozen=True)
class Actor:
    """The person acting: their credential's subject and display name, never a request field."""

    subject: str
    name: str


@dataclass(frozen=True)
class Queued:
    escalation_id: uuid.UUID
    ticket_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    channel: str
    reason: str
    team: str
    note: str
    state: str
    owner_subject: str
    owner_name: str
    create_time: datetime
    reply_due_time: datetime | None
    first_reply_time: datetime | None
    resolve_time: datetime | None
    resolution_note: str
    subject: str
    context_json: str

    def breached(self, now: datetime) -> bool:
        return business_hours.breached(self.reply_due_time, self.first_reply_time, now)


@dataclass(frozen=True)
class Filters:
    states: tuple[str, ...]
    team: str
    reason: str  # "" for every reason
    created_before: datetime | None

    def fingerprint(self) -> str:
        raw = json.dumps([sorted(self.states), self.team, self.reason,
                          self.created_before.isoformat() if self.created_before else ""])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def reply_id(escalation_id: uuid.UUID, idempotency_key: str) -> str:
    return str(uuid.uuid5(_REPLY_NS, f"{escalation_id}:{idempotency_key}"))


def _owned_by_another(e: Queued, actor: Actor) -> bool:
    return e.state == CLAIMED and e.owner_subject != actor.subject


def _refuse_other_owner(e: Queued, action: str) -> None:
    raise FailedPrecondition(
        f"escalation {e.escalation_id} is claimed by {e.owner_name or e.owner_subject}: only"
        f" they can {action} it (or resolve and reopen it to put it back in the queue)"
    )


def check_claim(e: Queued, actor: Actor) -> bool:
    """Returns False when the caller already owns it (nothing changes)."""
    if e.state == RESOLVED:
        raise FailedPrecondition(
            f"escalation {e.escalation_id} is resolved: reopen it before claiming it"
        )
    if _owned_by_another(e, actor):
        _refuse_other_owner(e, "work on")
    return e.state != CLAIMED


def check_reply(e: Queued, actor: Actor) -> bool:
    """Whether the reply also claims it (it was open). Refuses a resolved one and another's."""
    if e.state == RESOLVED:
        raise FailedPrecondition(
            f"escalation {e.escalation_id} is resolved: reopen it before replying on it"
        )
    if _owned_by_another(e, actor):
        _refuse_other_owner(e, "reply on")
    return e.state == OPEN


def check_resolve(e: Queued, actor: Actor) -> bool:
    """Returns False when it is already resolved (nothing changes)."""
    if e.state == RESOLVED:
        return False
    if _owned_by_another(e, actor):
        _refuse_other_owner(e, "resolve")
    return True


def check_reopen(e: Queued) -> None:
    if e.state != RESOLVED:
        raise FailedPrecondition(
            f"escalation {e.escalation_id} is {e.state}: only a resolved escalation can be reopened"
        )


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size: must not be negative (0 means 50)")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def page_token(filters: Filters, last: Queued) -> str:
    raw = json.dumps({"f": filters.fingerprint(), "t": last.create_time.isoformat(),
                      "id": str(last.escalation_id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_page_token(filters: Filters, token: str) -> tuple[datetime, uuid.UUID] | None:
    """(create_time, escalation_id) to continue after; None for the first page. A token that is
    not ours, or was made for other filters, is INVALID_ARGUMENT."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = (datetime.fromisoformat(data["t"]), uuid.UUID(data["id"]))
        fingerprint = data["f"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("page_token: not a token ListEscalations gave") from None
    if fingerprint != filters.fingerprint():
        raise InvalidArgument(
            "page_token: made for other filters; pass the same filters as the first page"
        )
    return after


def notice_due(last_notice: datetime | None, now: datetime) -> bool:
    """A held conversation's customer hears "your message was added" at most once an hour."""
    return last_notice is None or now - last_notice >= NOTICE_INTERVAL


def customer_name(context: dict) -> str:
    customer = context.get("customer") or {}
    names = context.get("sender_names") or []
    return customer.get("display_name") or (names[0] if names else "")
