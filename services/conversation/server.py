"""gRPC servicer for fte.conversation.v1.ConversationService: protobuf in, validation,
domain call, protobuf out. Rules live in `tickets`, SQL in `store`."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as pb
from fte.conversation.v1 import conversation_service_pb2_grpc as pb_grpc
from fte.handoff.v1 import handoff_service_pb2_grpc as handoff_grpc

from services.common import channels
from services.common.config import Settings
from services.common.db import owned_pool
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc_server import Servicer
from services.common.metrics import FIRST_REPLIES, TICKETS_CLOSED, zero
from services.common.teams import TEAMS
from services.conversation import tickets
from services.conversation.identities import IdentityClient
from services.conversation.store import ConversationStore
from services.conversation.tickets import ChannelSwitch, Conversation, Message, Ticket

Clock = Callable[[], datetime]

_MAX_HISTORY = 200
_DEFAULT_HISTORY = 20
_MAX_KEY = 512


class ConversationSettings(Settings):
    grpc_port: int = 50052
    # Escalate asks IdentityService (IDENTITY_ADDR) for the customer's addresses; a hand-over
    # waits at most this long for them before it is written without.
    identity_timeout_s: float = 3.0


class ConversationServicer(pb_grpc.ConversationServiceServicer):
    def __init__(
        self, store: ConversationStore, identities: IdentityClient, clock: Clock = tickets.utc_now
    ) -> None:
        self._store = store
        self._identities = identities
        # Every "now" of this service comes from here, so tests can move time (24 h window).
        self._clock = clock

    async def RecordInbound(self, request, context):
        inbound = tickets.Inbound(
            customer_id=_uuid(request.customer_id, "customer_id"),
            channel=_enum_in(channel_pb2.Channel, request.channel, "channel"),
            idempotency_key=_text(request.idempotency_key, "idempotency_key", _MAX_KEY),
            # A customer message may be empty (a WhatsApp photo, a blank email): it is still
            # recorded and gets a ticket; the agent asks how it can help.
            content=_bounded(_storable(request.content), "content", _MAX_CONTENT),
            subject=_storable(request.subject).strip(),
            thread_ref=_storable(request.thread_ref).strip(),
            sender_name=" ".join(_storable(request.sender_name).split())[:200],
            category=tickets.check_category(request.category),
            priority=_enum_in(pb.TicketPriority, request.priority, "priority", default="medium"),
            requested_ticket_id=(
                _uuid(request.requested_ticket_id, "requested_ticket_id")
                if request.requested_ticket_id.strip() else None
            ),
            receive_time=_time_in(request, "receive_time"),
            sender_assurance=_enum_in(
                sender_assurance_pb2.SenderAssurance, request.sender_assurance,
                "sender_assurance", default="verified",
            ),
            begin_processing=request.begin_processing,
        )
        r = await self._store.record_inbound(inbound, self._clock())
        return pb.RecordInboundResponse(
            customer_id=str(r.customer_id),
            conversation_id=str(r.conversation_id),
            ticket_id=str(r.ticket_id),
            message_id=str(r.message_id),
            duplicate=r.duplicate,
            new_conversation=r.new_conversation,
            channel_switch=_switch(r.channel_switch) if r.channel_switch else None,
            held_by=r.held_by,
            hold_notice_due=r.hold_notice_due,
            ticket_status=_enum_out(pb.TicketStatus, r.ticket_status),
        )

    async def RecordOutbound(self, request, context):
        role = _enum_in(pb.MessageRole, request.role, "role", default="agent")
        if role == "customer":
            raise InvalidArgument("role: an outbound message is written by AGENT, HUMAN or SYSTEM")
        for name in ("input_tokens", "output_tokens", "latency_ms"):
            if getattr(request, name) < 0:
                raise InvalidArgument(f"{name}: must not be negative")
        outbound = tickets.Outbound(
            ticket_id=_uuid(request.ticket_id, "ticket_id"),
            content=_required(_storable(request.content), "content"),
            channel=_enum_in(channel_pb2.Channel, request.channel, "channel", default=""),
            reply_id=_text(request.reply_id, "reply_id", _MAX_KEY),
            role=role,
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            # proto3 cannot tell 0 from unset; no real reply takes 0 ms, so 0 means unknown.
            latency_ms=request.latency_ms or None,
            tool_calls=[
                {"name": t.name, "arguments_json": t.arguments_json, "ok": t.ok}
                for t in request.tool_calls
            ],
            delivery_status=_enum_in(
                pb.DeliveryStatus, request.delivery_status, "delivery_status", default="pending"
            ),
        )
        message_id, duplicate, status = await self._store.record_outbound(outbound, self._clock())
        return pb.RecordOutboundResponse(
            message_id=str(message_id),
            duplicate=duplicate,
            delivery_status=_enum_out(pb.DeliveryStatus, status),
        )

    async def UpdateDeliveryStatus(self, request, context):
        reply_id = _text(request.reply_id, "reply_id", _MAX_KEY)
        status = _enum_in(pb.DeliveryStatus, request.delivery_status, "delivery_status")
        if status == "pending":
            raise InvalidArgument("delivery_status: must be SENT, DELIVERED or FAILED")
        message_id, stored, before = await self._store.update_delivery(
            reply_id, status, request.external_id.strip(), request.error.strip(), self._clock()
        )
        return pb.UpdateDeliveryStatusResponse(
            message_id=str(message_id), delivery_status=_enum_out(pb.DeliveryStatus, stored),
            previous_delivery_status=_enum_out(pb.DeliveryStatus, before),
        )

    async def GetHistory(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        if not 0 <= request.limit <= _MAX_HISTORY:
            raise InvalidArgument(f"limit: must be between 0 and {_MAX_HISTORY} (0 means 20)")
        messages = await self._store.history(customer_id, request.limit or _DEFAULT_HISTORY)
        return pb.GetHistoryResponse(messages=[_message(m) for m in messages])

    async def GetTicket(self, request, context):
        ticket_id = _uuid(request.ticket_id, "ticket_id")
        found = await self._store.ticket(ticket_id)
        if found is None:
            raise NotFound(f"ticket_id: ticket {ticket_id} does not exist")
        ticket, messages, escalations = found
        return pb.GetTicketResponse(
            ticket=_ticket(ticket),
            messages=[_message(m) for m in messages],
            escalations=[_escalation(e) for e in escalations],
        )

    async def UpdateTicketStatus(self, request, context):
        ticket_id = _uuid(request.ticket_id, "ticket_id")
        status = _enum_in(pb.TicketStatus, request.status, "status")
        ticket = await self._store.update_ticket_status(
            ticket_id, status, request.note.strip(), self._clock()
        )
        return pb.UpdateTicketStatusResponse(ticket=_ticket(ticket))

    async def Escalate(self, request, context):
        ticket_id = _uuid(request.ticket_id, "ticket_id")
        reason = _enum_in(pb.EscalationReason, request.reason, "reason")
        customer = await self._identities.describe(await self._store.ticket_customer(ticket_id))
        escalation, duplicate = await self._store.escalate(
            ticket_id, reason, request.note.strip(), self._clock(), customer
        )
        return pb.EscalateResponse(escalation=_escalation(escalation), duplicate=duplicate)

    async def GetConversation(self, request, context):
        conversation_id = _uuid(request.conversation_id, "conversation_id")
        found = await self._store.conversation(conversation_id)
        if found is None:
            raise NotFound(f"conversation_id: conversation {conversation_id} does not exist")
        conversation, messages, ticket_list = found
        return pb.GetConversationResponse(
            conversation=self._conversation(conversation),
            messages=[_message(m) for m in messages],
            tickets=[_ticket(t) for t in ticket_list],
        )

    async def ListConversations(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        conversations = await self._store.list_conversations(customer_id)
        return pb.ListConversationsResponse(
            conversations=[self._conversation(c) for c in conversations]
        )

    async def ReassignCustomer(self, request, context):
        source = _uuid(request.source_customer_id, "source_customer_id")
        target = _uuid(request.target_customer_id, "target_customer_id")
        if source == target:
            raise InvalidArgument("target_customer_id: must differ from source_customer_id")
        conversations, messages, closed = await self._store.reassign(source, target, self._clock())
        return pb.ReassignCustomerResponse(
            conversations_moved=conversations,
            messages_moved=messages,
            closed_conversation_ids=[str(c) for c in closed],
        )

    async def GetChannelMetrics(self, request, context):
        since = _time_in(request, "since_time")
        rows = await self._store.channel_metrics(since)
        return pb.GetChannelMetricsResponse(
            channels=[
                pb.ChannelMetrics(
                    channel=_enum_out(channel_pb2.Channel, r["channel"]),
                    conversations=r["conversations"],
                    messages=r["messages"],
                    tickets=r["tickets"],
                    escalations=r["escalations"],
                    escalation_rate=r["escalations"] / r["tickets"] if r["tickets"] else 0.0,
                    avg_response_latency_ms=r["avg_latency"],
                    p95_response_latency_ms=r["p95_latency"],
                    avg_sentiment=r["avg_sentiment"],
                )
                for r in rows
            ]
        )

    async def EraseCustomerContent(self, request, context):
        customer_id = _uuid(request.customer_id, "customer_id")
        counts = await self._store.erase_customer_content(customer_id)
        return pb.EraseCustomerContentResponse(**counts)

    def _conversation(self, c: Conversation) -> pb.Conversation:
        status = tickets.visible_status(c.status, c.last_message_time, self._clock())
        return pb.Conversation(
            conversation_id=str(c.conversation_id),
            customer_id=str(c.customer_id),
            status=_enum_out(pb.ConversationStatus, status),
            initial_channel=_enum_out(channel_pb2.Channel, c.initial_channel),
            current_channel=_enum_out(channel_pb2.Channel, c.current_channel),
            start_time=c.start_time,
            last_message_time=c.last_message_time,
            channel_switches=[_switch(s) for s in c.channel_switches],
            message_count=c.message_count,
        )


# --- validation -------------------------------------------------------------------------


_MAX_CONTENT = 100_000


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold U+0000: a NUL in a customer's message is dropped, not the
    message (it would otherwise fail as INTERNAL, and a retry the same way)."""
    return value.replace("\x00", "")


def _bounded(value: str, field: str, max_length: int) -> str:
    if len(value) > max_length:
        raise InvalidArgument(f"{field}: longer than {max_length} characters")
    return value


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{field}: required")
    return value


def _text(value: str, field: str, max_length: int) -> str:
    value = _required(value, field).strip()
    if len(value) > max_length:
        raise InvalidArgument(f"{field}: longer than {max_length} characters")
    return value


def _uuid(value: str, field: str) -> uuid.UUID:
    _required(value, field)
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidArgument(f"{field}: {value!r} is not a UUID") from None


def _time_in(request, field: str) -> datetime | None:
    """A Timestamp field as a datetime (None when unset); one outside years 1-9999 or with
    nanos outside a second is refused."""
    if not request.HasField(field):
        return None
    try:
        return getattr(request, field).ToDatetime(tzinfo=UTC)
    except ValueError as err:
        raise InvalidArgument(f"{field}: {err}") from None


def _prefix(enum_type) -> str:
    return enum_type.Name(0).removesuffix("UNSPECIFIED")  # "TICKET_STATUS_"


def _enum_in(enum_type, number: int, field: str, default: str | None = None) -> str:
    """Proto enum number → the lower-case name stored in the database (TICKET_STATUS_OPEN →
    open). UNSPECIFIED takes the default or is refused; numbers the enum lacks are refused."""
    if number == 0:
        if default is None:
            raise InvalidArgument(f"{field}: required")
        return default
    try:
        return enum_type.Name(number).removeprefix(_prefix(enum_type)).lower()
    except ValueError:
        raise InvalidArgument(f"{field}: unknown value {number}") from None


def _enum_out(enum_type, value: str | None) -> int:
    return enum_type.Value(_prefix(enum_type) + value.upper()) if value else 0


# --- domain → protobuf --------------------------------------------------------------------


def _switch(s: ChannelSwitch) -> pb.ChannelSwitch:
    return pb.ChannelSwitch(
        from_channel=_enum_out(channel_pb2.Channel, s.from_channel),
        to_channel=_enum_out(channel_pb2.Channel, s.to_channel),
        switch_time=s.switch_time,
        message_id=str(s.message_id),
    )


def _message(m: Message) -> pb.Message:
    return pb.Message(
        message_id=str(m.message_id),
        conversation_id=str(m.conversation_id),
        ticket_id=str(m.ticket_id),
        customer_id=str(m.customer_id),
        channel=_enum_out(channel_pb2.Channel, m.channel),
        direction=_enum_out(pb.MessageDirection, m.direction),
        role=_enum_out(pb.MessageRole, m.role),
        content=m.content,
        subject=m.subject,
        create_time=m.create_time,
        delivery_status=_enum_out(pb.DeliveryStatus, m.delivery_status),
        reply_id=m.reply_id or "",
        idempotency_key=m.idempotency_key or "",
        sentiment=m.sentiment or 0.0,
        sender_assurance=_enum_out(sender_assurance_pb2.SenderAssurance, m.sender_assurance),
        sender_name=m.sender_name,
    )


def _ticket(t: Ticket) -> pb.Ticket:
    return pb.Ticket(
        ticket_id=str(t.ticket_id),
        customer_id=str(t.customer_id),
        conversation_id=str(t.conversation_id),
        source_channel=_enum_out(channel_pb2.Channel, t.source_channel),
        category=t.category,
        priority=_enum_out(pb.TicketPriority, t.priority),
        status=_enum_out(pb.TicketStatus, t.status),
        subject=t.subject,
        create_time=t.create_time,
        update_time=t.update_time,
        resolve_time=t.resolve_time,
    )


def _escalation(e: tickets.Escalation) -> pb.Escalation:
    return pb.Escalation(
        escalation_id=str(e.escalation_id),
        ticket_id=str(e.ticket_id),
        reason=_enum_out(pb.EscalationReason, e.reason),
        note=e.note,
        context_json=e.context_json,
        create_time=e.create_time,
        team=e.team,
        reply_due_time=e.reply_due_time,
    )


async def build(
    resources: contextlib.AsyncExitStack,
    settings: ConversationSettings | None = None,
    clock: Clock = tickets.utc_now,
) -> list[Servicer]:
    settings = settings or ConversationSettings()
    pool = await owned_pool(resources, settings, "conversation", session_state=False)
    zero(TICKETS_CLOSED, channels.BY_VALUE.values(), ("agent", "person"))
    zero(FIRST_REPLIES, TEAMS.emails, ("kept", "breached"))
    channel = settings.channel(resources, settings.identity_addr, settings.identity_timeout_s)
    identities = IdentityClient(channel, settings.identity_timeout_s)
    # HandoffService lives here because this schema holds the tickets, escalations and
    # messages it acts on; imported here, as it uses this module's translations.
    from services.conversation.handoff import HandoffServicer
    from services.conversation.handoff_store import HandoffStore
    from services.conversation.outbound import ReplyPublisher

    publisher = ReplyPublisher(settings.kafka_bootstrap_servers)
    resources.push_async_callback(publisher.close)
    return [
        Servicer(
            pb_grpc.add_ConversationServiceServicer_to_server,
            ConversationServicer(ConversationStore(pool), identities, clock),
            "fte.conversation.v1.ConversationService",
        ),
        Servicer(
            handoff_grpc.add_HandoffServiceServicer_to_server,
            HandoffServicer(HandoffStore(pool), identities, publisher, clock),
            "fte.handoff.v1.HandoffService",
        ),
    ]
