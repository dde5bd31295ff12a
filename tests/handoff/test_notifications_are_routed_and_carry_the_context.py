"""The notifier's pure logic: which team, where, what is still to send, and what it says."""

from __future__ import annotations

from fte.common.v1 import channel_pb2, sender_assurance_pb2
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.events.v1 import events_pb2
from fte.identity.v1 import identity_service_pb2 as id_pb
from google.protobuf.timestamp_pb2 import Timestamp

import pytest

from services.common.teams import TEAMS
from services.handoff.notification import (
    EMAIL,
    WEBHOOK,
    Destination,
    MalformedEscalation,
    build,
    context_from,
    decode,
    email_message,
    inbox_link,
    pending,
    routes_from,
    webhook_body,
)

BASE = "https://support.flowboard.example/"


def _event(reason=conv_pb.ESCALATION_REASON_PRICING, **fields) -> events_pb2.Escalation:
    values = dict(escalation_id="ev-1", ticket_id="t-1", customer_id="c-1", conversation_id="v-1",
                  channel=channel_pb2.CHANNEL_WHATSAPP, reason=reason, note="Asked for an enterprise quote.")
    return events_pb2.Escalation(**(values | fields))


def _ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def _answers(assurance=sender_assurance_pb2.SENDER_ASSURANCE_VERIFIED):
    message = conv_pb.Message(
        channel=channel_pb2.CHANNEL_WHATSAPP, direction=conv_pb.MESSAGE_DIRECTION_INBOUND,
        role=conv_pb.MESSAGE_ROLE_CUSTOMER, content="How much is the   Business plan\nfor 40 seats?",
        create_time=_ts(1_764_000_000), sender_assurance=assurance)
    ticket = conv_pb.GetTicketResponse(
        ticket=conv_pb.Ticket(ticket_id="t-1", subject="How much is the Business plan"),
        messages=[message],
        escalations=[
            conv_pb.Escalation(escalation_id="stored-anger", reason=conv_pb.ESCALATION_REASON_ANGER),
            conv_pb.Escalation(escalation_id="stored-pricing", reason=conv_pb.ESCALATION_REASON_PRICING),
        ],
    )
    earlier = conv_pb.Message(channel=channel_pb2.CHANNEL_EMAIL, direction=conv_pb.MESSAGE_DIRECTION_INBOUND,
                              role=conv_pb.MESSAGE_ROLE_CUSTOMER, content="x" * 900, create_time=_ts(1_763_000_000))
    history = conv_pb.GetHistoryResponse(messages=[earlier, message])
    customer = id_pb.GetCustomerResponse(customer=id_pb.Customer(
        customer_id="c-1", display_name="Ana Silva",
        identifiers=[id_pb.Identifier(type=id_pb.IDENTIFIER_TYPE_PHONE, value="+351912345678"),
                     id_pb.Identifier(type=id_pb.IDENTIFIER_TYPE_EMAIL, value="ana@example.com")]))
    return ticket, history, customer


def test_each_reason_goes_to_the_team_configured_for_it() -> None:
    routes = routes_from(TEAMS)
    assert routes.team_for(conv_pb.ESCALATION_REASON_PRICING) == "sales"
    assert routes.team_for(conv_pb.ESCALATION_REASON_REFUND) == "billing"
    assert routes.team_for(conv_pb.ESCALATION_REASON_LEGAL) == "legal"
    assert routes.team_for(conv_pb.ESCALATION_REASON_ANGER) == "support"
    assert routes.team_for(conv_pb.ESCALATION_REASON_UNSPECIFIED) == "support"  # "other"
    assert routes.team_for(999) == "support"


def test_team_addresses_come_from_teams_toml_and_the_environment_overrides_them(monkeypatch) -> None:
    monkeypatch.setenv("TEAM_SALES_WEBHOOK_URL", "http://127.0.0.1:9/hooks/sales")
    monkeypatch.setenv("TEAM_BILLING_EMAIL", "")  # switched off
    monkeypatch.setenv("TEAM_SUPPORT_EMAIL", "support-team@flowboard.example")
    routes = routes_from(TEAMS)

    sales = routes.destination("sales")
    assert (sales.email, sales.webhook_url) == (TEAMS.emails["sales"], "http://127.0.0.1:9/hooks/sales")
    assert [d.transport for d in sales.deliveries()] == [EMAIL, WEBHOOK]
    assert routes.destination("billing").deliveries() == []
    assert routes.destination("legal").email == "legal@flowboard.example"
    assert routes.destination("support").email == "support-team@flowboard.example"


def test_only_deliveries_not_sent_yet_are_pending() -> None:
    deliveries = Destination("sales", "sales@flowboard.example", "http://hook").deliveries()
    assert pending(deliveries, set()) == deliveries
    assert [d.transport for d in pending(deliveries, {("sales", EMAIL)})] == [WEBHOOK]
    assert pending(deliveries, {("sales", EMAIL), ("sales", WEBHOOK)}) == []
    # Another team's record of the same escalation does not count.
    assert pending(deliveries, {("support", EMAIL)}) == deliveries


def test_the_notification_carries_customer_channel_reason_note_history_and_the_inbox_link() -> None:
    event = _event()
    n = build(event, "sales", context_from(event, *_answers()), BASE)
    body = webhook_body(n)

    link = "https://support.flowboard.example/inbox/#/escalations/stored-pricing"
    assert n.link == link == inbox_link(BASE, "stored-pricing")
    assert body["team"] == "sales" and body["reason"] == "pricing" and body["channel"] == "whatsapp"
    assert body["escalation_id"] == "stored-pricing" and body["event_id"] == "ev-1"
    assert body["customer"] == {"customer_id": "c-1", "name": "Ana Silva", "emails": ["ana@example.com"],
                                "phones": ["+351912345678"], "sender_verified": True}
    assert body["note"] == "Asked for an enterprise quote."
    assert [m["channel"] for m in body["messages"]] == ["email", "whatsapp"]
    assert body["messages"][1] == {"time": "2025-11-24T16:00:00Z", "channel": "whatsapp", "author": "customer",
                                   "text": "How much is the Business plan for 40 seats?"}
    assert len(body["messages"][0]["text"]) == 500  # cut; the inbox has the whole message
    assert body["missing"] == []
    text = body["text"]
    for fact in ("Ana Silva", "+351912345678", "ana@example.com", "whatsapp", "pricing", "sales",
                 "Asked for an enterprise quote.", link, "How much is the Business plan for 40 seats?"):
        assert fact in text, fact


def test_a_claimed_sender_is_flagged_and_missing_parts_are_named() -> None:
    event = _event()
    ticket, _, _ = _answers(sender_assurance_pb2.SENDER_ASSURANCE_CLAIMED)
    n = build(event, "sales", context_from(event, ticket, None, None), BASE)
    body = webhook_body(n)
    assert body["customer"]["sender_verified"] is False
    assert "only claimed" in body["text"]
    assert body["missing"] == ["history", "customer"]
    assert "Not available when this was sent: history, customer" in body["text"]


def test_without_a_stored_escalation_the_link_names_the_event() -> None:
    event = _event(reason=conv_pb.ESCALATION_REASON_LEGAL)
    ticket, history, customer = _answers()  # escalated for anger and pricing only
    n = build(event, "legal", context_from(event, ticket, history, customer), BASE)
    assert n.link.endswith("/inbox/#/escalations/ev-1")


def test_the_email_goes_to_the_team_without_a_ticket_and_with_a_stable_reply_id() -> None:
    event = _event()
    n = build(event, "sales", context_from(event, *_answers()), BASE)
    delivery = Destination("sales", "sales@flowboard.example").deliveries()[0]
    first, again = email_message(n, delivery), email_message(n, delivery)

    assert first.channel == channel_pb2.CHANNEL_EMAIL
    assert first.recipient.email == "sales@flowboard.example"
    assert not first.ticket_id, "a ticket id would make the dispatcher record it as a reply to the customer"
    assert first.reply_id == again.reply_id == "escalation-ev-1-sales-email"
    assert first.subject == n.title and "pricing" in first.subject and "Ana Silva" in first.subject
    assert first.parts == [n.text()]


def test_a_record_that_is_no_escalation_is_malformed() -> None:
    with pytest.raises(MalformedEscalation):
        decode(b"\xff\xfe not protobuf")
    with pytest.raises(MalformedEscalation):
        decode(events_pb2.Escalation(ticket_id="t-1").SerializeToString())
    assert decode(_event().SerializeToString()).escalation_id == "ev-1"
