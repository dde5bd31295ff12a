"""GET /conversations/{id}: a stored conversation with its messages (oldest first); 404 for an
id nobody has; 422 naming the parameter for something that is not an id."""

from __future__ import annotations

import uuid

from fte.common.v1 import channel_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb


async def test_a_stored_conversation_is_shown_with_its_messages(operator, conversation):
    customer_id = str(uuid.uuid4())
    first = await conversation.RecordInbound(
        conv_pb.RecordInboundRequest(
            customer_id=customer_id, channel=channel_pb2.CHANNEL_WEB_FORM,
            idempotency_key=f"web:{uuid.uuid4()}", content="How do I archive a board?",
            subject="Archiving", sender_name="Grace Hopper",
        )
    )
    await conversation.RecordOutbound(
        conv_pb.RecordOutboundRequest(
            ticket_id=first.ticket_id, content="Open the board menu and choose Archive.",
            channel=channel_pb2.CHANNEL_WEB_FORM, reply_id=f"reply-{uuid.uuid4()}",
            role=conv_pb.MESSAGE_ROLE_AGENT,
        )
    )

    reply = await operator.get(f"/conversations/{first.conversation_id}")

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["conversation"]["conversation_id"] == first.conversation_id
    assert body["conversation"]["customer_id"] == customer_id
    assert [(m["direction"], m["role"], m["content"]) for m in body["messages"]] == [
        ("MESSAGE_DIRECTION_INBOUND", "MESSAGE_ROLE_CUSTOMER", "How do I archive a board?"),
        ("MESSAGE_DIRECTION_OUTBOUND", "MESSAGE_ROLE_AGENT", "Open the board menu and choose Archive."),
    ]
    assert [t["ticket_id"] for t in body["tickets"]] == [first.ticket_id]


async def test_an_unknown_conversation_is_404(operator):
    reply = await operator.get(f"/conversations/{uuid.uuid4()}")
    assert reply.status_code == 404, reply.text
    assert "conversation" in reply.json()["detail"].lower()


async def test_a_malformed_id_is_422_naming_the_parameter(operator):
    reply = await operator.get("/conversations/not-a-uuid")
    assert reply.status_code == 422
    [problem] = reply.json()["detail"]
    assert problem["loc"] == ["path", "conversation_id"]
