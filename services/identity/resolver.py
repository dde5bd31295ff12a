"""Who a customer is: normalising addresses, deciding which customer a message belongs to,
and the rules of a merge. No gRPC and no SQL here; `store.py` asks these functions what to do.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr

import phonenumbers

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound

EMAIL = "email"
PHONE = "phone"

# Deliberately plain: one @, a non-empty local part, a dotted domain, no spaces. The channel
# already delivered the message, so this only rejects what cannot be an address at all.
_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+$")
_WHATSAPP_PREFIX = re.compile(r"^\s*whatsapp:", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Identifier:
    """A normalised address. Ordered so every writer locks identifiers in the same order."""

    kind: str  # EMAIL or PHONE; WhatsApp numbers are phone numbers
    value: str


@dataclass(frozen=True)
class StoredIdentifier:
    kind: str
    value: str
    first_seen_channel: str | None
    create_time: datetime


@dataclass(frozen=True)
class Name:
    channel: str
    name: str
    last_seen_time: datetime


@dataclass(frozen=True)
class Customer:
    customer_id: uuid.UUID
    merged_into: uuid.UUID | None
    create_time: datetime
    update_time: datetime
    identifiers: list[StoredIdentifier] = field(default_factory=list)
    names: list[Name] = field(default_factory=list)  # most recently seen first
    # Set by EraseCustomer: the customer's addresses and names are gone for good.
    erase_time: datetime | None = None

    @property
    def display_name(self) -> str:
        """The most recently seen name on any channel."""
        latest = max(self.names, key=lambda n: n.last_seen_time, default=None)
        return latest.name if latest else ""


@dataclass(frozen=True)
class Erasure:
    """What one EraseCustomer call did in schema identity (a repeat: zeros, changed False)."""

    customer_ids: list[uuid.UUID]  # the customer first, then everyone merged into it
    erase_time: datetime
    identifiers_erased: int
    names_erased: int
    changed: bool


# Replaces personal text that has to stay a row (a merge's record of what moved).
TOMBSTONE = "[erased]"


@dataclass(frozen=True)
class Merge:
    merge_id: uuid.UUID
    source_customer_id: uuid.UUID
    target_customer_id: uuid.UUID
    identifiers_moved: int
    conversations_moved: int


def check_region(region: str, default: str) -> str:
    region = (region.strip() or default).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidArgument(f"default_region: {region!r} is not an ISO 3166 region code")
    return region


def normalise_email(raw: str, field_name: str = "email") -> str:
    """Trimmed and case-folded. `Ada <ada@x.org>` is accepted (a From header pasted as is).

    Plus-tags and dots are kept: `ada+billing@` and `a.da@` are different mailboxes as far
    as anyone but the mail provider knows, and merging them wrongly is worse than not at all.
    """
    text = raw.strip()
    if "<" in text:
        text = parseaddr(text)[1]
    text = text.strip().casefold()
    if len(text) > 254 or not _EMAIL_RE.match(text) or ".." in text:
        raise InvalidArgument(f"{field_name}: not an email address")
    return text


def normalise_phone(raw: str, region: str, field_name: str = "phone") -> str:
    """E.164. A `whatsapp:` prefix is dropped; national formats use `region`.

    Accepted when the number has a possible length for its country (phonenumbers'
    is_possible_number) rather than when it is in an allocated range (is_valid_number):
    range metadata lags real allocations, and refusing a real customer's message is worse
    than storing a number we cannot prove is allocated. Letters, wrong lengths and unknown
    country codes are refused.
    """
    text = _WHATSAPP_PREFIX.sub("", raw).strip()
    if not text or re.search(r"[A-Za-z]", text):
        raise InvalidArgument(f"{field_name}: not a phone number")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidArgument(f"{field_name}: not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidArgument(f"{field_name}: not a possible phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifiers_on_message(email: str, phone: str, whatsapp: str, region: str) -> list[Identifier]:
    """Every address on one message, normalised, de-duplicated and in lock order."""
    found: set[Identifier] = set()
    if email.strip():
        found.add(Identifier(EMAIL, normalise_email(email)))
    if phone.strip():
        found.add(Identifier(PHONE, normalise_phone(phone, region, "phone")))
    if whatsapp.strip():
        found.add(Identifier(PHONE, normalise_phone(whatsapp, region, "whatsapp")))
    if not found:
        raise InvalidArgument("email, phone or whatsapp: at least one identifier is required")
    return sorted(found)


def clean_name(raw: str) -> str:
    """Whitespace collapsed, bounded: names come from headers and forms, not from us."""
    return " ".join(raw.split())[:200]


def normalise(kind: str, raw: str, region: str) -> Identifier:
    if kind == EMAIL:
        return Identifier(EMAIL, normalise_email(raw, "value"))
    return Identifier(PHONE, normalise_phone(raw, region, "value"))


@dataclass(frozen=True)
class Plan:
    """What ResolveCustomer should write. customer_id None means: create a new customer."""

    customer_id: uuid.UUID | None
    link: list[Identifier]


def _primary_kinds(channel: str) -> tuple[str, ...]:
    # The address the channel itself vouches for decides: the sender of an email, the
    # WhatsApp number. The web form asks for an email first, so email leads there.
    return (PHONE, EMAIL) if channel == "whatsapp" else (EMAIL, PHONE)


def claimed_identifiers(identifiers: Iterable[Identifier], channel: str) -> list[Identifier]:
    """The one address a claim is matched by: the channel's primary one (email on the web form).

    A claimed message links nothing. Linking its second address (say, the form's phone) to the
    customer who owns its first would let whoever owns that phone later read that customer's
    history from WhatsApp, and a claim naming two customers' addresses must not join them."""
    order = _primary_kinds(channel)
    return [min(identifiers, key=lambda i: (order.index(i.kind), i.value))]


def plan_resolution(
    identifiers: Iterable[Identifier], owners: Mapping[Identifier, uuid.UUID], channel: str
) -> Plan:
    """Matching is by exact normalised address only, never by name.

    One owner: that customer, and the message's new addresses are linked to it (a web form
    with email + phone makes a later WhatsApp message from that phone find the customer).
    Several owners: two customers are probably one person, but only a person may decide
    that (MergeCustomers); the message goes to the owner of the channel's own address and
    nothing is moved.
    """
    identifiers = list(identifiers)
    unowned = [i for i in identifiers if i not in owners]
    distinct = set(owners.values())
    if not distinct:
        return Plan(None, unowned)
    if len(distinct) == 1:
        return Plan(next(iter(distinct)), unowned)
    order = _primary_kinds(channel)
    primary = min(owners, key=lambda i: (order.index(i.kind), i.value))
    return Plan(owners[primary], unowned)


def check_exists(customer: Customer | None, customer_id: uuid.UUID) -> Customer:
    if customer is None:
        raise NotFound(f"customer_id: customer {customer_id} does not exist")
    return customer


def check_linkable(customer: Customer | None, customer_id: uuid.UUID) -> Customer:
    """Only a live customer gains identifiers; a merged one's belong to its target."""
    customer = check_exists(customer, customer_id)
    if customer.merged_into is not None:
        raise FailedPrecondition(
            f"customer {customer_id} was merged into {customer.merged_into}; use that customer"
        )
    if customer.erase_time is not None:
        raise FailedPrecondition(f"customer {customer_id} was erased; it gains no addresses")
    return customer


def check_link_owner(identifier: Identifier, owner: uuid.UUID, customer_id: uuid.UUID) -> bool:
    """True when the customer already has the identifier; refuses to take another's."""
    if owner == customer_id:
        return True
    raise FailedPrecondition(
        f"this {identifier.kind} already belongs to customer {owner}; it is never moved "
        f"silently: MergeCustomers(source={owner}, target={customer_id}) if they are one person"
    )


def check_merge(
    source: Customer | None, target: Customer | None, source_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """Validates a merge. Returns True when it already happened (a retried request)."""
    if source is None:
        raise NotFound(f"source_customer_id: customer {source_id} does not exist")
    if target is None:
        raise NotFound(f"target_customer_id: customer {target_id} does not exist")
    if source.merged_into == target.customer_id:
        return True
    if source.merged_into is not None:
        raise FailedPrecondition(
            f"source customer {source_id} was already merged into {source.merged_into}"
        )
    if target.merged_into is not None:
        raise FailedPrecondition(
            f"target customer {target_id} was merged into {target.merged_into}; merge into that one"
        )
    # An erased customer is given no personal data back, and one is not erased by halves.
    for which, customer in (("source", source), ("target", target)):
        if customer.erase_time is not None:
            raise FailedPrecondition(f"{which} customer {customer.customer_id} was erased")
    return False


def check_erasable(customer: Customer | None, customer_id: uuid.UUID) -> Customer:
    """The live customer is erased with everyone merged into it; a merged-away id would
    leave the person's addresses (moved to the target) in place, so it is refused."""
    customer = check_exists(customer, customer_id)
    if customer.merged_into is not None:
        raise FailedPrecondition(
            f"customer_id: customer {customer_id} was merged into {customer.merged_into};"
            " erase that customer (the ones merged into it are erased with it)"
        )
    return customer


def pick_lookup(
    by_email: Customer | None, by_phone: Customer | None, email_given: bool, phone_given: bool
) -> Customer:
    if not email_given and not phone_given:
        raise InvalidArgument("email or phone: one is required")
    if by_email and by_phone and by_email.customer_id != by_phone.customer_id:
        raise FailedPrecondition(
            f"the email belongs to customer {by_email.customer_id} and the phone to "
            f"{by_phone.customer_id}; look up one of them, or merge them"
        )
    found = by_email or by_phone
    if found is None:
        raise NotFound("no customer has this email or phone")
    return found
