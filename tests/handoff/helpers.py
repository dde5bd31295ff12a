"""Builders for HandoffService tests: an escalated ticket of a fresh customer, stubs acting as
different people, and reading what was published to an outbound topic."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb

from services.common import topics
from tests.running_services import unique_email, unique_us_phone


async def escalated(identity, conversation, *, channel=CHANNEL_WHATSAPP,
                    reason=conv_pb.ESCALATION_REASON_PRICING, content="How much is Business?",
                    name="Ada Lovelace", **inbound) -> tuple[conv_pb.Escalation, conv_pb.RecordInboundResponse, str]:
    """A new customer writes once and the ticket is escalated. Returns (escalation, the
    recorded inbound, the customer's address)."""
    if channel in (CHANNEL_EMAIL, CHANNEL_WEB_FORM):
        address = unique_email("handoff")
        resolved = await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
            channel=channel, email=address, display_name=name))
    else:
        _, address = unique_us_phone()
        resolved = await identity.ResolveCustomer(id_pb.ResolveCustomerRequest(
            channel=channel, whatsapp=f"whatsapp:{address}", display_name=name))
    recorded = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=resolved.customer.customer_id, channel=channel, content=content,
        idempotency_key=f"handoff-{uuid.uuid4().hex}", sender_name=name, **inbound))
    escalation = (await conversation.Escalate(conv_pb.EscalateRequest(
        ticket_id=recorded.ticket_id, reason=reason, note="needs a person"))).escalation
    return escalation, recorded, address


async def customer_writes(conversation, recorded: conv_pb.RecordInboundResponse, content: str,
                          channel=CHANNEL_WHATSAPP, key: str = "") -> conv_pb.RecordInboundResponse:
    return await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=recorded.customer_id, channel=channel, content=content,
        idempotency_key=key or f"handoff-{uuid.uuid4().hex}"))


async def published(bootstrap_servers: str, channel: int, reply_id: str) -> list[events_pb2.OutboundMessage]:
    """Every record on the channel's outbound topic with this reply id (read from the start)."""
    reader = AIOKafkaConsumer(topics.outbound_topic(channel), bootstrap_servers=bootstrap_servers,
                              auto_offset_reset="earliest", isolation_level="read_committed")
    await reader.start()
    found: list[events_pb2.OutboundMessage] = []
    try:
        quiet = 0
        for _ in range(150):
            batch = await reader.getmany(timeout_ms=200)
            if not batch:
                quiet += 1
                if found and quiet >= 5:
                    break
                continue
            quiet = 0
            for records in batch.values():
                for record in records:
                    message = events_pb2.OutboundMessage.FromString(record.value)
                    if message.reply_id == reply_id:
                        found.append(message)
        return found
    finally:
        await reader.stop()
