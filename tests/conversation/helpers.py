"""Small builders for conversation tests (requests with fresh ids)."""

from __future__ import annotations

import asyncio
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


async def released_together(admin_db, lock_row_sql: str, key, calls: list) -> list:
    """Runs `calls` (coroutines) with the row `lock_row_sql` selects (FOR UPDATE, on `key`)
    held by another session until every call has had time to reach it, then returns their
    answers: the calls race for the row at the same moment, whatever this box's speed."""
    async with admin_db.transaction():
        await admin_db.execute(lock_row_sql, key)
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0.5)
    return await asyncio.gather(*tasks)
