"""EraseCustomerContent: the customer's texts become the tombstone, rows and numbers stay, a
repeat changes nothing, other customers are untouched; the escalation context keeps only
what is on its allow-list."""

from __future__ import annotations

import json
import uuid

import grpc
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as pb

from services.conversation import tickets
from tests.conversation.helpers import inbound, outbound
from tests.running_services import new_id, rpc_error


async def test_erasure_tombstones_texts_keeps_rows_and_a_repeat_counts_nothing(conversation, admin_db):
    customer, neighbour = new_id(), new_id()
    first = await conversation.RecordInbound(inbound(
        customer, CHANNEL_EMAIL, "my card 4111 is charged twice", subject="Refund",
        thread_ref="<x@mail.example>", sender_name="Pia Lund"))
    await conversation.RecordInbound(inbound(customer, CHANNEL_WHATSAPP, "hello?"))
    await conversation.RecordOutbound(outbound(first.ticket_id, "Hi Pia", latency_ms=900))
    await conversation.Escalate(pb.EscalateRequest(
        ticket_id=first.ticket_id, reason=pb.ESCALATION_REASON_REFUND, note="Pia wants money back"))
    other = await conversation.RecordInbound(inbound(neighbour, CHANNEL_EMAIL, "keep me"))

    erased = await conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id=customer))
    assert (erased.messages_erased, erased.tickets_erased, erased.escalations_erased) == (3, 2, 1)
    assert erased.ticket_events_erased >= 1

    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=first.ticket_id))
    assert ticket.ticket.status == pb.TICKET_STATUS_ESCALATED and ticket.ticket.subject == "[erased]"
    assert [(m.content, m.subject) for m in ticket.messages] == [("[erased]", "[erased]"), ("[erased]", "")]
    assert ticket.messages[0].channel == CHANNEL_EMAIL
    stored = await admin_db.fetch(
        "SELECT sender_name, thread_ref, latency_ms FROM conversation.messages WHERE ticket_id = $1"
        " ORDER BY seq", uuid.UUID(first.ticket_id))
    assert [tuple(r) for r in stored] == [("[erased]", "[erased]", None), ("", "", 900)]
    [escalation] = ticket.escalations
    assert escalation.note == "[erased]" and "Pia" not in escalation.context_json
    assert escalation.reason == pb.ESCALATION_REASON_REFUND

    again = await conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id=customer))
    assert again == pb.EraseCustomerContentResponse()
    kept = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=other.ticket_id))
    assert [m.content for m in kept.messages] == ["keep me"]


async def test_erasure_of_an_unknown_id_erases_nothing_and_a_bad_id_is_invalid(conversation):
    nothing = await conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id=new_id()))
    assert nothing == pb.EraseCustomerContentResponse()
    err = await rpc_error(conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id="x")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "customer_id" in err.details()


def test_an_erased_context_drops_keys_it_does_not_know_and_is_stable():
    context = {
        "ticket": {"ticket_id": "t", "status": "escalated", "subject": "Refund for Pia"},
        "customer_id": "c",
        "customer": {"email": "pia@example.com", "display_name": "Pia"},
        "messages": [{"message_id": "m", "content": "hi", "subject": "", "time": "now"}],
        "sender_names": ["Pia"], "thread_refs": ["<x@mail.example>"],
        "a_future_key": {"phone": "+15550100"},
    }
    erased = tickets.erased_context(context)
    text = json.dumps(erased)
    assert "Pia" not in text and "pia@" not in text and "1555" not in text and "mail.example" not in text
    assert erased["ticket"] == {"ticket_id": "t", "status": "escalated", "subject": "[erased]"}
    assert erased["messages"] == [{"message_id": "m", "time": "now", "subject": "", "content": "[erased]"}]
    assert tickets.erased_context(erased) == erased


async def test_a_message_arriving_after_the_erasure_is_stored_tombstoned(conversation):
    """Resolved to the customer before identity erased them, recorded after: nothing of it stays."""
    customer = new_id()
    await conversation.RecordInbound(inbound(customer, CHANNEL_EMAIL, "first"))
    await conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id=customer))

    late = await conversation.RecordInbound(inbound(
        customer, CHANNEL_WHATSAPP, "late, from Pia", subject="Pia here", sender_name="Pia"))
    await conversation.RecordOutbound(outbound(late.ticket_id, "Hi Pia", tool_calls=[
        pb.ToolCall(name="search", arguments_json='{"q": "Pia"}', ok=True)]))

    ticket = await conversation.GetTicket(pb.GetTicketRequest(ticket_id=late.ticket_id))
    assert [(m.content, m.subject) for m in ticket.messages] == [("[erased]", "[erased]"), ("[erased]", "")]
    assert ticket.ticket.subject == "[erased]"
    again = await conversation.EraseCustomerContent(pb.EraseCustomerContentRequest(customer_id=customer))
    assert again == pb.EraseCustomerContentResponse()
