"""Verified linking across channels (issue 12): the rules of one-time codes. No gRPC, no SQL,
no clock of its own (every time is passed in).

A customer proven on one channel (VERIFIED) says another address is theirs too; a code goes to
that address over its own channel and must come back on the first one. The code:

- is random (`secrets`), `CODE_DIGITS` digits;
- is stored only as an scrypt hash with a per-link salt. A six-digit code has only 10^6 values,
  so a fast hash (SHA-256) of a leaked row would be reversed in a second; scrypt at n=2^14 costs
  tens of milliseconds per try, so trying them all takes hours, far past the code's life;
- expires (`expire_time`), works once (`confirmed`), allows `attempts` wrong tries (then the
  link is `exhausted`), and a newer request `replaced` the older one;
- never appears in an error message, a log line or a stored row (see the service README).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.errors import FailedPrecondition, InvalidArgument
from services.identity.resolver import EMAIL, Identifier

CODE_DIGITS = 6
# What a code sent back may look like once spaces and dashes are dropped ("123 456", "123-456").
_CODE_RE = re.compile(r"^\d{6,8}$")

PENDING = "pending"
CONFIRMED = "confirmed"
EXHAUSTED = "exhausted"
REPLACED = "replaced"

# Outcomes of one ConfirmLink (the proto's LinkOutcome, without the prefix).
LINKED = "linked"
MERGED = "merged"
ALREADY_LINKED = "already_linked"
WRONG_CODE = "wrong_code"
EXPIRED = "expired"
USED = "used"
NO_PENDING_LINK = "no_pending_link"
# Not an answer: the code was right, the store must now link or merge.
RIGHT_CODE = "right_code"

# scrypt cost: n=2^14, r=8 is 16 MiB and tens of milliseconds per hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def new_code(digits: int = CODE_DIGITS) -> str:
    """A uniformly random code of `digits` digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_code(code: str, *, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
              p: int = SCRYPT_P) -> str:
    """`scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`: all that is ever stored of a code."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(code.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * (n + p + 2))
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def code_matches(code: str, stored: str) -> bool:
    """Whether `code` is the one `stored` was made from (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        again = hash_code(code, salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(again.rsplit("$", 1)[1], digest)


def clean_code(raw: str) -> str:
    """The code as the customer typed it, spaces and dashes dropped; INVALID_ARGUMENT for
    anything that is not 6-8 digits (the message never repeats what was typed)."""
    code = re.sub(r"[\s-]", "", raw or "")
    if not _CODE_RE.match(code):
        raise InvalidArgument("code: must be 6 to 8 digits")
    return code


def mask(identifier: Identifier) -> str:
    """What a reply may show of an address: `a•••@example.com`, `+44•••••••123` (bullets, not
    asterisks: a reply's markdown is stripped for WhatsApp)."""
    if identifier.kind == EMAIL:
        local, _, domain = identifier.value.partition("@")
        return f"{local[:1]}•••@{domain}"
    value = identifier.value
    return value[:3] + "•" * max(0, len(value) - 6) + value[-3:]


@dataclass(frozen=True)
class Link:
    link_id: uuid.UUID
    customer_id: uuid.UUID
    first_channel: str
    claimed: Identifier
    code_hash: str
    attempts_left: int
    expire_time: datetime
    status: str
    request_key: str = ""
    merge_id: uuid.UUID | None = None
    audit_event_id: str | None = None


def check_may_start(claimed_sender: bool) -> None:
    """Only a sender the first channel proved may start a link: otherwise whoever types a
    victim's address on the web form would receive a merge into the victim's history."""
    if claimed_sender:
        raise FailedPrecondition(
            "assurance: the sender's address is only claimed on this channel (no proof); "
            "linking needs a verified sender"
        )


def new_link(customer_id: uuid.UUID, first_channel: str, claimed: Identifier, code_hash: str,
             now: datetime, ttl_s: float, attempts: int, request_key: str = "") -> Link:
    return Link(
        link_id=uuid.uuid4(),
        customer_id=customer_id,
        first_channel=first_channel,
        claimed=claimed,
        code_hash=code_hash,
        attempts_left=attempts,
        expire_time=now + timedelta(seconds=ttl_s),
        status=PENDING,
        request_key=request_key,
    )


def reusable(link: Link | None, claimed: Identifier, request_key: str, now: datetime) -> bool:
    """A retried StartLink (same key, same address, still pending and alive): answer the link
    already made and send no second code."""
    return (link is not None and bool(request_key) and link.request_key == request_key
            and link.claimed == claimed and link.status == PENDING and now < link.expire_time)


@dataclass(frozen=True)
class Decision:
    outcome: str  # one of the outcomes above, or RIGHT_CODE
    link: Link | None  # the link as it must be stored afterwards (None: nothing to write)


def unfinished(link: Link | None, outcome: str, right_code: bool) -> str | None:
    """A right code again on a link whose confirmation did not finish (its audit event was
    never written: a service was out of reach): the retry finishes it and is answered as the
    first try should have been, LINKED or MERGED. None otherwise (USED stays USED)."""
    if (link is None or outcome != USED or not right_code or link.status != CONFIRMED
            or link.audit_event_id is not None):
        return None
    return MERGED if link.merge_id else LINKED


def decide(link: Link | None, channel: str, right_code: bool, now: datetime) -> Decision:
    """What a code sent back on `channel` does to the customer's latest link.

    `right_code` is whether the code matches the link's hash (the caller hashes, this function
    only decides). Only a wrong code on a live pending link changes it: one attempt fewer, and
    the last one kills it. A right code on a live pending link: RIGHT_CODE, the link confirmed."""
    if link is None or link.first_channel != channel:
        return Decision(NO_PENDING_LINK, None)
    if link.status in (CONFIRMED, REPLACED):
        return Decision(USED, None)
    if link.status == EXHAUSTED:
        return Decision(EXHAUSTED, None)
    if now >= link.expire_time:
        return Decision(EXPIRED, None)
    if right_code:
        return Decision(RIGHT_CODE, replace(link, status=CONFIRMED))
    left = max(0, link.attempts_left - 1)
    if left == 0:
        return Decision(EXHAUSTED, replace(link, attempts_left=0, status=EXHAUSTED))
    return Decision(WRONG_CODE, replace(link, attempts_left=left))


def code_message(code: str, first_channel: str, ttl_s: float, name: str = "") -> tuple[str, str]:
    """(subject, text) of the message that delivers the code to the claimed address."""
    where = {"whatsapp": "WhatsApp", "email": "email", "web_form": "our web form"}.get(
        first_channel, first_channel)
    minutes = max(1, round(ttl_s / 60))
    greeting = f"Hi {name}, " if name else ""
    text = (
        f"{greeting}your Flowboard support verification code is {code}. "
        f"Send it back to us on {where} to link this address to the account you are writing "
        f"from there. It expires in {minutes} minutes and works once. If you did not ask for "
        "this, ignore this message: nothing changes without the code."
    )
    return "Your Flowboard support verification code", text
