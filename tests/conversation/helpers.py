"""Small builders for conversation tests (requests with fresh ids)."""

from __future__ import annotations

import uuid

from fte.common.v1.channel_pb2 import CHANNEL_EMAIL
from fte.conversation.v1 import conversation_service_pb2 as pb


def inbound(customer_id: str, channel=CHANNEL_EMAIL, content: str = "How do I export a board?",
            **fields) -> pb.RecordInboundRequest:
    fields.setdefault("idempotency_key", f"msg-{uuid.uuid4().hex}")
    return pb.RecordInboundRequest(customer_id=customer_id, channel=channel, content=content, **fields)


def outbound(ticket_id: str, content: str = "Here is how.", **fields) -> pb.RecordOutboundRequest:
    fields.setdefault("reply_id", f"reply-{uuid.uuid4().hex}")
    return pb.RecordOutboundRequest(ticket_id=ticket_id, content=content, **fields)
