"""Verified linking across channels, the agent's side (issue 12).

A customer writes "this is me, ada@example.com" (or gives a phone in an email): the agent offers
to link — `request_account_link` asks IdentityService.StartLink to send a one-time code to that
address over its own channel. The customer sends the code back here: `confirm_account_link`
hands it to IdentityService.ConfirmLink, which links or merges.

The code never reaches the model: `SupportAgent` keeps it on the turn (`TurnContext.link_code`)
and gives the model the message with the code replaced (`services.common.link_codes`); the tool
takes no argument, so no tool-call record holds it either. A sender the channel did not prove
(a web-form claim) is refused here already, and again by identity.
"""

from __future__ import annotations

import re
import time
from typing import Any

import grpc
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_VERIFIED
from fte.identity.v1 import identity_service_pb2 as id_pb

from services.common import channels, link_codes

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A phone written any common way: +44 7700 900123, (415) 555-0142, 07700-900-123.
_PHONE = re.compile(r"(?<![\w@])\+?\(?\d[\d\s().-]{6,17}\d(?![\w@])")
# The customer says an address is theirs too / wants accounts joined.
_LINK_CUE = re.compile(
    r"\b(?:this|that|it)(?:'s| is| was)\s+(?:also\s+)?me\b|\bthat'?s (?:also )?mine\b"
    r"|\b(?:i|we)\s+(?:also|sometimes|usually|normally)\s+(?:write|writing|message|email|e-mail|"
    r"text|contact|reach|use|am on|use the address)\b"
    r"|\b(?:also|sometimes)\s+(?:write|message|email|text)\s+(?:you|us)?\s*from\b"
    r"|\b(?:link|connect|merge|join|combine|unify)\s+(?:my|our|the|these|both|this)\b"
    r"|\bsame (?:person|customer|account|user)\b|\bmy other (?:email|e-mail|address|number|phone)\b",
    re.IGNORECASE,
)


def link_request(text: str) -> str | None:
    """The address a message asks to link ("this is me, ada@example.com", "I also write from
    +44 7700 900123", "link my email x@y.com", "my email is ..., please connect my accounts"),
    or None when the message does not ask to link one."""
    if not text or not _LINK_CUE.search(text):
        return None
    if m := _EMAIL.search(text):
        return m.group(0).rstrip(".")
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 8 <= len(digits) <= 15:
            return m.group(0).strip()
    return None


_WHERE = {"email": "by email", "whatsapp": "on WhatsApp"}

REPLIES = {
    "code_sent": (
        "To link your accounts, I've sent a 6-digit code {where} to {address}. Please send that "
        "code back here within {minutes} minutes. If you didn't ask for this, just ignore it."
    ),
    "already_linked": "{address} is already linked to this account, so there is nothing to do.",
    "too_many_requests": (
        "Several codes have been requested for this recently, so I can't send another one right "
        "now. Please try again in an hour."
    ),
    "refused_unverified": (
        "For your security I can only link accounts when you write from the email address or "
        "WhatsApp number itself. Please send the same request from there."
    ),
    "invalid_address": (
        "I couldn't read that as an email address or phone number. Could you send it again, e.g. "
        "\"this is me, ada@example.com\"?"
    ),
    "linked": "Thanks, that code is right: your accounts are now linked. From now on I can see "
              "your conversations with us from {address} as well.",
    "wrong_code": "That code isn't right. Please check it and try again ({attempts} attempts left).",
    "expired": "That code has expired. Tell me the address to link again and I'll send a new one.",
    "exhausted": "That was the last attempt, so this link request is closed and nothing was linked. "
                 "Tell me the address again if you'd like a new code.",
    "used": "That code has already been used or replaced by a newer one. If you asked for a new "
            "code, please send the latest one.",
    "no_pending_link": (
        "I don't have an account link waiting for a code from you. To link another email or "
        "number, tell me, e.g. \"this is me, ada@example.com\"."
    ),
}

_OUTCOMES = {
    id_pb.LINK_OUTCOME_LINKED: "linked",
    id_pb.LINK_OUTCOME_MERGED: "linked",
    id_pb.LINK_OUTCOME_ALREADY_LINKED: "already_linked",
    id_pb.LINK_OUTCOME_WRONG_CODE: "wrong_code",
    id_pb.LINK_OUTCOME_EXPIRED: "expired",
    id_pb.LINK_OUTCOME_EXHAUSTED: "exhausted",
    id_pb.LINK_OUTCOME_USED: "used",
    id_pb.LINK_OUTCOME_NO_PENDING_LINK: "no_pending_link",
}


def _result(outcome: str, **values: Any) -> dict[str, Any]:
    return {"outcome": outcome, **values, "reply": REPLIES[outcome].format(**values)}


def _refused(err: grpc.aio.AioRpcError) -> dict[str, Any] | None:
    """The customer's mistakes become a reply; anything else fails the turn (retried)."""
    if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return _result("invalid_address")
    if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
        return _result("refused_unverified")
    return None


async def start(turn, address: str) -> dict[str, Any]:
    """StartLink for the address the customer named; the code goes there, never here."""
    request = turn.request
    if not request.sender_verified:
        return _result("refused_unverified")
    if turn.identity is None:
        raise RuntimeError("the agent has no IdentityService channel")
    address = address.strip()
    claim = {"claimed_email": address} if "@" in address else {"claimed_phone": address}
    try:
        reply = await turn.identity.StartLink(id_pb.StartLinkRequest(
            customer_id=request.customer_id,
            channel=request.channel,
            assurance=SENDER_ASSURANCE_VERIFIED,
            display_name=request.customer_name,
            # A retried Respond for the same message sends no second code.
            request_key=f"{request.ticket_id}:{request.message_id}",
            **claim,
        ))
    except grpc.aio.AioRpcError as err:
        if (refused := _refused(err)) is not None:
            return refused
        raise
    if reply.already_linked:
        return _result("already_linked", address=reply.masked_address)
    if reply.too_many_requests:
        return _result("too_many_requests")
    minutes = max(1, round((reply.expire_time.ToSeconds() - _now_s()) / 60))
    return _result("code_sent", address=reply.masked_address, minutes=minutes,
                   where=_WHERE.get(channels.BY_VALUE.get(reply.delivery_channel, ""), ""))


async def confirm(turn) -> dict[str, Any]:
    """ConfirmLink with the code this turn's message carried (kept off the model's input)."""
    request = turn.request
    if not request.sender_verified:
        return _result("refused_unverified")
    if not turn.link_code:
        return _result("no_pending_link")
    if turn.identity is None:
        raise RuntimeError("the agent has no IdentityService channel")
    try:
        reply = await turn.identity.ConfirmLink(id_pb.ConfirmLinkRequest(
            customer_id=request.customer_id,
            channel=request.channel,
            assurance=SENDER_ASSURANCE_VERIFIED,
            code=turn.link_code,
        ))
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return _result("no_pending_link")
        if (refused := _refused(err)) is not None:
            return refused
        raise
    outcome = _OUTCOMES.get(reply.outcome, "no_pending_link")
    return _result(outcome, address=reply.masked_address or "your other address",
                   attempts=reply.attempts_left)


def masked_message(message: str) -> str:
    """What the model may read of the customer's message."""
    return link_codes.redact(message)


def _now_s() -> float:
    return time.time()
