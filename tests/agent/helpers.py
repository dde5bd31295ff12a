"""Sending a customer message the way the worker does: RecordInbound, then Respond."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.common.v1 import channel_pb2
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_VERIFIED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from google.protobuf.timestamp_pb2 import Timestamp

EMAIL = channel_pb2.CHANNEL_EMAIL
WHATSAPP = channel_pb2.CHANNEL_WHATSAPP
WEB_FORM = channel_pb2.CHANNEL_WEB_FORM


@dataclass
class Exchange:
    recorded: conv_pb.RecordInboundResponse
    response: agent_pb.RespondResponse

    @property
    def text(self) -> str:
        return "\n".join(self.response.reply.parts)

    @property
    def tools(self) -> list[str]:
        return [t.name for t in self.response.tool_calls]


async def ask(
    conversation,
    agent,
    message: str,
    channel: int = WEB_FORM,
    *,
    customer_id: str | None = None,
    subject: str = "",
    name: str = "Ada Lovelace",
    at: datetime | None = None,
    assurance: int = 0,
    begin_processing: bool = False,
) -> Exchange:
    """RecordInbound, then Respond; `begin_processing` as the inbound worker calls them (the
    ticket moved to processing by RecordInbound, and the agent told so)."""
    customer_id = customer_id or str(uuid.uuid4())
    receive_time = None
    if at is not None:
        receive_time = Timestamp()
        receive_time.FromDatetime(at)
    recorded = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=customer_id, channel=channel, idempotency_key=str(uuid.uuid4()),
        # The conversation service refuses empty content; the worker's empty messages are
        # still recorded with what the channel delivered (here: whitespace made visible).
        content=message if message.strip() else "(empty message)",
        subject=subject, sender_name=name, receive_time=receive_time,
        sender_assurance=assurance, begin_processing=begin_processing,
    ))
    response = await agent.Respond(agent_pb.RespondRequest(
        ticket_id=recorded.ticket_id, customer_id=customer_id,
        conversation_id=recorded.conversation_id, channel=channel, message=message,
        subject=subject, customer_name=name, message_id=recorded.message_id,
        sender_assurance=assurance,
        ticket_processing=recorded.ticket_status == conv_pb.TICKET_STATUS_PROCESSING,
    ))
    return Exchange(recorded, response)


# A verified customer who emailed about 401 errors on 12 Nov 2024 (earlier contact on email).
EMAILED = datetime(2024, 11, 12, 9, 30, tzinfo=UTC)


async def customer_who_emailed(conversation, agent) -> str:
    customer = str(uuid.uuid4())
    await ask(conversation, agent, "Our API calls fail with 401 since this morning.", EMAIL,
              customer_id=customer, subject="401 errors", at=EMAILED,
              assurance=SENDER_ASSURANCE_VERIFIED)
    return customer
