"""gRPC servicer for fte.handoff.v1.HandoffService, served by the conversation process:
protobuf in, validation, the acting person from the caller's credential
(`services.common.auth.current_principal`, never a request field), domain call, protobuf out.
Rules live in `escalations`, SQL in `handoff_store`; people's replies go to the customer
through the outbound dispatcher (`outbound.ReplyPublisher`), formatted as the agent's are
(`services.common.formatting`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.handoff.v1 import handoff_service_pb2 as pb
from fte.handoff.v1 import handoff_service_pb2_grpc as pb_grpc

from services.common import channels, formatting
from services.common.auth import current_principal
from services.common.errors import InvalidArgument
from services.common.metrics import FIRST_REPLIES
from services.common.teams import TEAMS
from services.conversation import escalations
from services.conversation.escalations import Actor, Filters, Queued
from services.conversation.handoff_store import HandoffStore, Reply
from services.conversation.identities import IdentityClient
from services.conversation.outbound import ReplyPublisher
from services.conversation.tickets import Message
from services.conversation.server import _enum_in, _enum_out, _message, _text, _time_in, _uuid

Clock = Callable[[], datetime]

_HISTORY = 50
_STATE_PREFIX = "ESCALATION_STATE_"


class HandoffServicer(pb_grpc.HandoffServiceServicer):
    def __init__(self, store: HandoffStore, identities: IdentityClient, publisher: ReplyPublisher,
                 clock: Clock) -> None:
        self._store = store
        self._identities = identities
        self._publisher = publisher
        self._clock = clock

    async def ListEscalations(self, request, context):
        filters = Filters(
            states=_states(request.states),
            team=_team(request.team),
            reason=_enum_in(conv_pb.EscalationReason, request.reason, "reason", default=""),
            created_before=_time_in(request, "created_before"),
        )
        size = escalations.page_size(request.page_size)
        after = escalations.read_page_token(filters, request.page_token)
        rows = await self._store.list(filters, after, size)
        now = await self._count_breaches()
        more = len(rows) > size
        rows = rows[:size]
        return pb.ListEscalationsResponse(
            escalations=[_queued(e, now) for e in rows],
            next_page_token=escalations.page_token(filters, rows[-1]) if more else "",
        )

    async def GetEscalation(self, request, context):
        escalation_id = _uuid(request.escalation_id, "escalation_id")
        e = await self._store.get(escalation_id)
        customer = await self._identities.describe(e.customer_id)
        if customer.get("lookup") == "failed":
            # IdentityService cannot be asked now: what it said when the escalation was raised.
            customer = _stored_customer(e)
        messages = await self._store.history(e.customer_id, _HISTORY)
        queued = _queued(e, self._clock())
        if customer.get("display_name"):
            queued.customer_name = customer["display_name"]
        return pb.GetEscalationResponse(
            escalation=queued,
            emails=customer.get("email", []),
            phones=customer.get("phone", []),
            messages=[_message(m) for m in messages],
            context_json=e.context_json,
        )

    async def ClaimEscalation(self, request, context):
        escalation_id = _uuid(request.escalation_id, "escalation_id")
        e, already = await self._store.claim(escalation_id, _actor(), self._clock())
        return pb.ClaimEscalationResponse(escalation=_queued(e, self._clock()),
                                          already_claimed=already)

    async def ReplyToCustomer(self, request, context):
        escalation_id = _uuid(request.escalation_id, "escalation_id")
        content = request.content.strip()
        if not content:
            raise InvalidArgument("content: required (1 to 10000 characters)")
        if len(content) > escalations.MAX_REPLY:
            raise InvalidArgument(f"content: longer than {escalations.MAX_REPLY} characters")
        key = _text(request.idempotency_key, "idempotency_key", escalations.MAX_KEY)
        actor = _actor()
        # Formatted (and stored) as the agent's replies are: the ticket page shows the stored
        # text, and people reading the history see what the customer got.
        e = await self._store.get(escalation_id)
        customer = await self._identities.describe(e.customer_id)
        last = await self._store.last_inbound(e.ticket_id, e.channel)
        name = customer.get("display_name") or e.customer_name
        formatted = formatting.format_reply(
            channels.BY_NAME[e.channel], content, name, last.subject if last else e.subject,
            signer=actor.name,
        )
        stored = formatted.text or "\n\n".join(formatted.parts)
        reply = await self._store.reply(escalation_id, actor, stored, key, self._clock())
        # A retry of a reply the dispatcher already handled sends nothing; a pending one (its
        # publish may have failed) is published again: the dispatcher sends a reply id once.
        if reply.delivery_status == "pending":
            await self._publisher.send(_outbound(reply, formatted, name, customer, last))
        await self._count_breaches()
        return pb.ReplyToCustomerResponse(
            message_id=str(reply.message_id),
            duplicate=reply.duplicate,
            escalation=_queued(reply.escalation, self._clock()),
        )

    async def ResolveEscalation(self, request, context):
        escalation_id = _uuid(request.escalation_id, "escalation_id")
        note = _note(request.note)
        e, already = await self._store.resolve(escalation_id, _actor(), note, self._clock())
        return pb.ResolveEscalationResponse(escalation=_queued(e, self._clock()),
                                            already_resolved=already)

    async def ReopenEscalation(self, request, context):
        escalation_id = _uuid(request.escalation_id, "escalation_id")
        note = _note(request.note)
        e = await self._store.reopen(escalation_id, _actor(), note, self._clock())
        return pb.ReopenEscalationResponse(escalation=_queued(e, self._clock()))

    async def _count_breaches(self) -> datetime:
        now = self._clock()
        # fte_escalation_first_replies{team, promise}: kept or breached (business hours), each
        # escalation once, when its first reply is seen or it is seen overdue without one.
        for team, promise in await self._store.count_first_replies(now):
            FIRST_REPLIES.labels(team, promise).inc()
        return now


# --- validation -------------------------------------------------------------------------


def _actor() -> Actor:
    principal = current_principal()
    return Actor(subject=principal.subject, name=principal.display_name or principal.subject)


def _states(numbers) -> tuple[str, ...]:
    names = set()
    for number in numbers:
        try:
            name = pb.EscalationState.Name(number)
        except ValueError:
            raise InvalidArgument(f"states: unknown value {number}") from None
        if number == pb.ESCALATION_STATE_UNSPECIFIED:
            return escalations.STATES
        names.add(name.removeprefix(_STATE_PREFIX).lower())
    return tuple(sorted(names)) or escalations.DEFAULT_STATES


def _team(team: str) -> str:
    team = team.strip().lower()
    if team and team not in TEAMS.emails:
        raise InvalidArgument(f"team: {team!r} is not one of {', '.join(sorted(TEAMS.emails))}")
    return team


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > escalations.MAX_NOTE:
        raise InvalidArgument(f"note: longer than {escalations.MAX_NOTE} characters")
    return note


# --- domain → protobuf --------------------------------------------------------------------


def _queued(e: Queued, now: datetime) -> pb.QueuedEscalation:
    return pb.QueuedEscalation(
        escalation_id=str(e.escalation_id),
        ticket_id=str(e.ticket_id),
        conversation_id=str(e.conversation_id),
        customer_id=str(e.customer_id),
        customer_name=e.customer_name,
        channel=_enum_out(channel_pb2.Channel, e.channel),
        reason=_enum_out(conv_pb.EscalationReason, e.reason),
        team=e.team,
        note=e.note,
        state=pb.EscalationState.Value(_STATE_PREFIX + e.state.upper()),
        owner=pb.Operator(subject=e.owner_subject, display_name=e.owner_name)
        if e.owner_subject else None,
        create_time=e.create_time,
        reply_due_time=e.reply_due_time,
        first_reply_time=e.first_reply_time,
        breached=e.breached(now),
        resolve_time=e.resolve_time,
        resolution_note=e.resolution_note,
        subject=e.subject,
    )


def _thread(thread_ref: str) -> events_pb2.ThreadRef:
    """The stored thread ref is Gmail's threadId, or the Message-ID when there was none."""
    if thread_ref.startswith("<"):
        return events_pb2.ThreadRef(message_id=thread_ref, references=[thread_ref])
    return events_pb2.ThreadRef(thread_id=thread_ref)


def _outbound(reply: Reply, formatted: formatting.ChannelReply, name: str,
              customer: dict[str, Any], last: Message | None) -> events_pb2.OutboundMessage:
    """The OutboundMessage the worker would publish for an agent reply on this ticket."""
    e = reply.escalation
    channel = channels.BY_NAME[e.channel]
    stored = _stored_customer(e)
    emails = customer.get("email") or stored.get("email") or []
    numbers = (customer.get("whatsapp") or stored.get("whatsapp")
               or customer.get("phone") or stored.get("phone") or [])
    message = events_pb2.OutboundMessage(
        reply_id=reply.reply_id,
        ticket_id=str(e.ticket_id),
        customer_id=str(e.customer_id),
        conversation_id=str(e.conversation_id),
        channel=channel,
        recipient=events_pb2.Recipient(
            email=emails[0] if emails else "",
            phone=numbers[0] if numbers and channel == channel_pb2.CHANNEL_WHATSAPP else "",
            display_name=name,
        ),
        parts=formatted.parts,
        html=formatted.html,
        subject=formatted.subject,
        thread=_thread(last.thread_ref) if last and last.thread_ref else None,
        escalated=True,
        in_reply_to_key=(last.idempotency_key or "") if last else "",
    )
    message.create_time.GetCurrentTime()
    if last is not None:
        message.customer_last_inbound_time.FromDatetime(last.create_time)
    return message


def _stored_customer(e: Queued) -> dict[str, Any]:
    """The addresses frozen in the context when it was raised (IdentityService unreachable)."""
    try:
        return (json.loads(e.context_json or "{}").get("customer") or {})
    except ValueError:
        return {}

