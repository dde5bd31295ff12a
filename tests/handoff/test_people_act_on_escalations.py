"""HandoffService over gRPC against the real conversation and identity services, PostgreSQL and
Kafka: the queue (filters, paging), claims, people's replies (stored as human, published to the
channel's outbound topic formatted like the agent's), resolve and reopen, a held conversation,
who may do what, and the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from fte.access.v1 import access_service_pb2 as access_pb
from fte.common.v1.channel_pb2 import CHANNEL_EMAIL, CHANNEL_WEB_FORM, CHANNEL_WHATSAPP
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.handoff.v1 import handoff_service_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from tests.handoff.helpers import customer_writes, escalated, published
from tests.running_services import rpc_error

OPEN, CLAIMED, RESOLVED = (pb.ESCALATION_STATE_OPEN, pb.ESCALATION_STATE_CLAIMED,
                           pb.ESCALATION_STATE_RESOLVED)


def _ts(at: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(at)
    return t


def _past_monday() -> datetime:
    """A Monday 10:00 UTC between 1995 and 2023 no other test uses: the queue up to it holds only
    what this module raised then, never the escalations other tests raise at the real time."""
    base = datetime(1995, 1, 2, 10, tzinfo=UTC)  # a Monday
    return base + timedelta(weeks=uuid.uuid4().int % 1500)


async def test_escalate_routes_to_the_team_and_counts_the_reply_time_in_business_hours(
        identity, conversation, clock):
    clock.pin(datetime(1999, 1, 1, 19, 30, tzinfo=UTC))  # a Friday
    escalation, _, _ = await escalated(identity, conversation, reason=conv_pb.ESCALATION_REASON_PRICING)
    assert escalation.team == "sales"
    assert escalation.reply_due_time.ToDatetime(tzinfo=UTC) == datetime(1999, 1, 4, 8, 30, tzinfo=UTC)
    refund, _, _ = await escalated(identity, conversation, reason=conv_pb.ESCALATION_REASON_REFUND)
    assert refund.team == "billing"


async def test_the_queue_filters_and_pages_oldest_first(identity, conversation, as_person, clock):
    start = clock.pin(_past_monday())
    raised = []
    for i, reason in enumerate([conv_pb.ESCALATION_REASON_PRICING, conv_pb.ESCALATION_REASON_ANGER,
                                conv_pb.ESCALATION_REASON_PRICING, conv_pb.ESCALATION_REASON_LEGAL,
                                conv_pb.ESCALATION_REASON_PRICING]):
        clock.pin(start + timedelta(minutes=i))
        raised.append((await escalated(identity, conversation, reason=reason))[0])
    clock.pin(start + timedelta(minutes=30))
    before = _ts(start + timedelta(minutes=10))
    viewer = as_person["viewer"]

    ids, token, pages = [], "", 0
    while True:
        page = await viewer.ListEscalations(pb.ListEscalationsRequest(
            created_before=before, page_size=2, page_token=token))
        assert len(page.escalations) <= 2
        ids += [e.escalation_id for e in page.escalations]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    mine = [e.escalation_id for e in raised]
    assert [i for i in ids if i in mine] == mine  # oldest first, each once
    assert len(ids) == len(set(ids)) and pages >= 3

    sales = await viewer.ListEscalations(pb.ListEscalationsRequest(
        created_before=before, team="sales", page_size=200))
    assert {e.escalation_id for e in sales.escalations} >= {mine[0], mine[2], mine[4]}
    assert {e.team for e in sales.escalations} == {"sales"}
    legal = await viewer.ListEscalations(pb.ListEscalationsRequest(
        created_before=before, reason=conv_pb.ESCALATION_REASON_LEGAL, page_size=200))
    assert mine[3] in [e.escalation_id for e in legal.escalations]
    assert {e.reason for e in legal.escalations} == {conv_pb.ESCALATION_REASON_LEGAL}
    first = legal.escalations[[e.escalation_id for e in legal.escalations].index(mine[3])]
    assert first.customer_name == "Ada Lovelace" and first.channel == CHANNEL_WHATSAPP
    assert first.state == OPEN and not first.HasField("owner")
    assert first.subject == "How much is Business?"

    # Claimed ones are in the default view; resolved ones only when asked for.
    await as_person["agent"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=mine[0]))
    await as_person["agent"].ResolveEscalation(pb.ResolveEscalationRequest(escalation_id=mine[1]))
    default = await viewer.ListEscalations(pb.ListEscalationsRequest(created_before=before, page_size=200))
    listed = {e.escalation_id: e.state for e in default.escalations}
    assert listed[mine[0]] == CLAIMED and mine[1] not in listed
    resolved = await viewer.ListEscalations(pb.ListEscalationsRequest(
        created_before=before, states=[RESOLVED], page_size=200))
    assert mine[1] in [e.escalation_id for e in resolved.escalations]

    # A token is only good for the filters it was made with, and must be ours.
    page = await viewer.ListEscalations(pb.ListEscalationsRequest(created_before=before, page_size=1))
    err = await rpc_error(viewer.ListEscalations(pb.ListEscalationsRequest(
        created_before=before, team="sales", page_size=1, page_token=page.next_page_token)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()
    err = await rpc_error(viewer.ListEscalations(pb.ListEscalationsRequest(page_token="not-a-token")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_one_owner_claims_and_another_is_told_who(identity, conversation, as_person):
    escalation, _, _ = await escalated(identity, conversation)
    request = pb.ClaimEscalationRequest(escalation_id=escalation.escalation_id)

    first = await as_person["agent"].ClaimEscalation(request)
    assert first.escalation.state == CLAIMED and not first.already_claimed
    assert first.escalation.owner.display_name == "tests (agent)"
    assert first.escalation.owner.subject.startswith("api-key:")
    again = await as_person["agent"].ClaimEscalation(request)
    assert again.already_claimed and again.escalation.owner == first.escalation.owner

    err = await rpc_error(as_person["second"].ClaimEscalation(request))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "tests (agent)" in err.details()
    err = await rpc_error(as_person["second"].ReplyToCustomer(pb.ReplyToCustomerRequest(
        escalation_id=escalation.escalation_id, content="Hi", idempotency_key="k1")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "tests (agent)" in err.details()

    err = await rpc_error(as_person["viewer"].ClaimEscalation(request))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A viewer still reads it.
    got = await as_person["viewer"].GetEscalation(pb.GetEscalationRequest(
        escalation_id=escalation.escalation_id))
    assert got.escalation.owner.display_name == "tests (agent)"


async def test_a_reply_is_stored_as_human_and_sent_on_whatsapp_once(
        identity, conversation, as_person, stack):
    escalation, recorded, number = await escalated(identity, conversation)
    long_answer = ("Thanks for asking about Business. " * 20).strip()
    request = pb.ReplyToCustomerRequest(escalation_id=escalation.escalation_id,
                                        content=long_answer, idempotency_key="reply-1")

    reply = await as_person["agent"].ReplyToCustomer(request)
    assert not reply.duplicate
    # An open escalation is claimed by the replier; the first reply time is set.
    assert reply.escalation.state == CLAIMED
    assert reply.escalation.owner.display_name == "tests (agent)"
    assert reply.escalation.HasField("first_reply_time") and not reply.escalation.breached
    again = await as_person["agent"].ReplyToCustomer(request)
    assert again.duplicate and again.message_id == reply.message_id

    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=recorded.ticket_id))
    human = [m for m in ticket.messages if m.role == conv_pb.MESSAGE_ROLE_HUMAN]
    assert len(human) == 1 and human[0].message_id == reply.message_id
    assert human[0].sender_name == "tests (agent)"
    # Stored as sent (formatted for WhatsApp, as the agent's replies are).
    assert human[0].content == f"Hi Ada! {long_answer}"
    assert human[0].direction == conv_pb.MESSAGE_DIRECTION_OUTBOUND

    sent = await published(stack.bootstrap_servers, CHANNEL_WHATSAPP, human[0].reply_id)
    assert sent, "the reply was not published to fte.channels.whatsapp.outbound"
    message = sent[0]
    assert message.ticket_id == recorded.ticket_id and message.channel == CHANNEL_WHATSAPP
    assert message.recipient.phone == number and message.escalated
    # Formatted like the agent's WhatsApp replies: greeting, at most 300 characters a message,
    # and a person's reply is sent whole.
    assert message.parts[0].startswith("Hi Ada! Thanks for asking")
    assert all(len(p) <= 300 for p in message.parts) and len(message.parts) >= 3
    assert " ".join(message.parts).count("Thanks for asking about Business.") == 20


async def test_an_email_reply_lands_in_the_customers_thread(identity, conversation, as_person, stack):
    escalation, recorded, address = await escalated(
        identity, conversation, channel=CHANNEL_EMAIL, subject="Quote for 40 seats",
        thread_ref="thread-18c2f", reason=conv_pb.ESCALATION_REASON_PRICING)
    reply = await as_person["agent"].ReplyToCustomer(pb.ReplyToCustomerRequest(
        escalation_id=escalation.escalation_id, content="Our sales team will send the quote today.",
        idempotency_key="mail-1"))
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=recorded.ticket_id))
    reply_id = next(m.reply_id for m in ticket.messages if m.message_id == reply.message_id)
    message = (await published(stack.bootstrap_servers, CHANNEL_EMAIL, reply_id))[0]
    assert message.recipient.email == address
    assert message.thread.thread_id == "thread-18c2f"
    assert message.subject == "Re: Quote for 40 seats"
    assert message.parts[0].startswith("Dear Ada,")
    assert message.parts[-1].endswith("tests (agent)\nFlowboard Support")
    assert message.html.startswith("<!DOCTYPE html>")


async def test_a_web_form_reply_is_shown_on_the_ticket_page_formatted_for_the_web(
        identity, conversation, as_person, stack):
    escalation, recorded, address = await escalated(
        identity, conversation, channel=CHANNEL_WEB_FORM, reason=conv_pb.ESCALATION_REASON_REFUND)
    assert escalation.team == "billing"
    reply = await as_person["agent"].ReplyToCustomer(pb.ReplyToCustomerRequest(
        escalation_id=escalation.escalation_id, content="Your refund is on its way.",
        idempotency_key="web-1"))
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=recorded.ticket_id))
    [human] = [m for m in ticket.messages if m.message_id == reply.message_id]
    assert human.content == ("Hi Ada,\n\nYour refund is on its way.\n\n"
                             "Best regards,\ntests (agent)\nFlowboard Support")
    [message] = await published(stack.bootstrap_servers, CHANNEL_WEB_FORM, human.reply_id)
    assert message.parts == [human.content] and message.recipient.email == address


async def test_resolve_hands_back_and_reopen_puts_it_back_unclaimed(identity, conversation, as_person):
    escalation, recorded, _ = await escalated(identity, conversation)
    eid = escalation.escalation_id
    await as_person["agent"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=eid))
    err = await rpc_error(as_person["second"].ResolveEscalation(
        pb.ResolveEscalationRequest(escalation_id=eid)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION

    done = await as_person["agent"].ResolveEscalation(pb.ResolveEscalationRequest(
        escalation_id=eid, note="Quote sent by email."))
    assert done.escalation.state == RESOLVED and not done.already_resolved
    assert done.escalation.resolution_note == "Quote sent by email."
    assert done.escalation.HasField("resolve_time")
    assert (await as_person["agent"].ResolveEscalation(
        pb.ResolveEscalationRequest(escalation_id=eid))).already_resolved
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=recorded.ticket_id))
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_RESOLVED
    # The conversation is the agent's again: nobody holds it.
    after = await customer_writes(conversation, recorded, "One more question")
    assert after.held_by == "" and not after.hold_notice_due

    err = await rpc_error(as_person["second"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=eid)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "resolved" in err.details()
    reopened = await as_person["second"].ReopenEscalation(pb.ReopenEscalationRequest(
        escalation_id=eid, note="Customer came back"))
    assert reopened.escalation.state == OPEN and not reopened.escalation.HasField("owner")
    assert not reopened.escalation.HasField("resolve_time")
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=recorded.ticket_id))
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    err = await rpc_error(as_person["second"].ReopenEscalation(pb.ReopenEscalationRequest(escalation_id=eid)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The second person may claim it now.
    claimed = await as_person["second"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=eid))
    assert claimed.escalation.owner.display_name == "second person"


async def test_a_held_conversation_is_reported_and_noticed_at_most_once_an_hour(
        identity, conversation, as_person, clock):
    start = clock.pin(datetime.now(UTC).replace(microsecond=0))
    escalation, recorded, _ = await escalated(identity, conversation)
    open_one = await customer_writes(conversation, recorded, "Any news?")
    assert open_one.held_by == ""  # open, not claimed: the agent still answers

    await as_person["second"].ClaimEscalation(pb.ClaimEscalationRequest(
        escalation_id=escalation.escalation_id))
    first = await customer_writes(conversation, recorded, "Hello?", key=f"held-{uuid.uuid4().hex}")
    assert first.held_by == "second person" and first.hold_notice_due
    clock.pin(start + timedelta(minutes=20))
    second = await customer_writes(conversation, recorded, "Still there?")
    assert second.held_by == "second person" and not second.hold_notice_due
    # A redelivered message is answered as the first time (across worker replicas).
    again = await conversation.RecordInbound(conv_pb.RecordInboundRequest(
        customer_id=recorded.customer_id, channel=CHANNEL_WHATSAPP, content="Hello?",
        idempotency_key=_key_of(first, await conversation.GetTicket(
            conv_pb.GetTicketRequest(ticket_id=first.ticket_id)))))
    assert again.duplicate and again.hold_notice_due and again.held_by == "second person"
    clock.pin(start + timedelta(minutes=61))
    later = await customer_writes(conversation, recorded, "Hello again")
    assert later.hold_notice_due


def _key_of(recorded, ticket) -> str:
    return next(m.idempotency_key for m in ticket.messages if m.message_id == recorded.message_id)


async def test_get_escalation_shows_the_customer_and_their_recent_messages(
        identity, conversation, as_person):
    escalation, recorded, number = await escalated(identity, conversation)
    await customer_writes(conversation, recorded, "And for 40 seats?")
    got = await as_person["viewer"].GetEscalation(pb.GetEscalationRequest(
        escalation_id=escalation.escalation_id))
    assert got.escalation.customer_name == "Ada Lovelace"
    assert got.phones == [number] and list(got.emails) == []
    assert [m.content for m in got.messages] == ["How much is Business?", "And for 40 seats?"]
    assert json.loads(got.context_json)["ticket"]["ticket_id"] == recorded.ticket_id


async def test_bad_input_gets_clear_errors(identity, conversation, as_person):
    agent = as_person["agent"]
    cases = [
        (agent.GetEscalation(pb.GetEscalationRequest(escalation_id="nope")),
         grpc.StatusCode.INVALID_ARGUMENT, "escalation_id"),
        (agent.GetEscalation(pb.GetEscalationRequest(escalation_id=str(uuid.uuid4()))),
         grpc.StatusCode.NOT_FOUND, "does not exist"),
        (agent.ClaimEscalation(pb.ClaimEscalationRequest()), grpc.StatusCode.INVALID_ARGUMENT,
         "escalation_id"),
        (agent.ListEscalations(pb.ListEscalationsRequest(team="marketing")),
         grpc.StatusCode.INVALID_ARGUMENT, "team"),
        (agent.ListEscalations(pb.ListEscalationsRequest(states=[42])),
         grpc.StatusCode.INVALID_ARGUMENT, "states"),
        (agent.ListEscalations(pb.ListEscalationsRequest(reason=99)),
         grpc.StatusCode.INVALID_ARGUMENT, "reason"),
        (agent.ListEscalations(pb.ListEscalationsRequest(page_size=-1)),
         grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
        (agent.ReopenEscalation(pb.ReopenEscalationRequest(escalation_id=str(uuid.uuid4()))),
         grpc.StatusCode.NOT_FOUND, "does not exist"),
    ]
    escalation, _, _ = await escalated(identity, conversation)
    eid = escalation.escalation_id
    cases += [
        (agent.ReplyToCustomer(pb.ReplyToCustomerRequest(escalation_id=eid, content="  ",
                                                         idempotency_key="k")),
         grpc.StatusCode.INVALID_ARGUMENT, "content"),
        (agent.ReplyToCustomer(pb.ReplyToCustomerRequest(escalation_id=eid, content="x" * 10001,
                                                         idempotency_key="k")),
         grpc.StatusCode.INVALID_ARGUMENT, "content"),
        (agent.ReplyToCustomer(pb.ReplyToCustomerRequest(escalation_id=eid, content="Hi")),
         grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key"),
        (agent.ResolveEscalation(pb.ResolveEscalationRequest(escalation_id=eid, note="n" * 2001)),
         grpc.StatusCode.INVALID_ARGUMENT, "note"),
    ]
    for call, code, words in cases:
        err = await rpc_error(call)
        assert err.code() == code, (err.code(), err.details())
        assert words in err.details()


async def test_peoples_actions_are_audited(identity, conversation, as_person, access):
    escalation, _, _ = await escalated(identity, conversation)
    eid = escalation.escalation_id
    await as_person["agent"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=eid))
    await rpc_error(as_person["second"].ClaimEscalation(pb.ClaimEscalationRequest(escalation_id=eid)))
    await as_person["agent"].ResolveEscalation(pb.ResolveEscalationRequest(escalation_id=eid))
    events = (await access.ListAuditEvents(access_pb.ListAuditEventsRequest(page_size=500))).events
    mine = [(e.method.rsplit("/", 1)[-1], e.outcome) for e in events if eid in e.target_ids]
    assert ("ClaimEscalation", access_pb.AUDIT_OUTCOME_SUCCEEDED) in mine
    assert ("ClaimEscalation", access_pb.AUDIT_OUTCOME_FAILED) in mine
    assert ("ResolveEscalation", access_pb.AUDIT_OUTCOME_SUCCEEDED) in mine


async def test_a_late_first_reply_is_breached_and_counted_once(identity, conversation, as_person, clock):
    from prometheus_client import REGISTRY

    def counted() -> float:
        return REGISTRY.get_sample_value("fte_escalation_first_replies_total",
                                         {"team": "legal", "promise": "breached"}) or 0.0

    start = clock.pin(_past_monday())  # Monday 10:00: due 11:00
    escalation, _, _ = await escalated(identity, conversation, reason=conv_pb.ESCALATION_REASON_LEGAL)
    eid = escalation.escalation_id
    clock.pin(start + timedelta(minutes=59))
    got = await as_person["viewer"].GetEscalation(pb.GetEscalationRequest(escalation_id=eid))
    assert not got.escalation.breached

    clock.pin(start + timedelta(hours=2))
    before = counted()
    got = await as_person["viewer"].GetEscalation(pb.GetEscalationRequest(escalation_id=eid))
    assert got.escalation.breached  # no reply yet, past due
    await as_person["viewer"].ListEscalations(pb.ListEscalationsRequest(team="legal"))
    assert counted() >= before + 1
    once = counted()
    reply = await as_person["agent"].ReplyToCustomer(pb.ReplyToCustomerRequest(
        escalation_id=eid, content="Our legal team will answer.", idempotency_key="late"))
    assert reply.escalation.breached  # the first reply came after the due time
    await as_person["viewer"].ListEscalations(pb.ListEscalationsRequest(team="legal"))
    assert counted() == once


async def test_a_first_reply_in_time_is_kept_and_counted_once(identity, conversation, as_person, clock):
    from prometheus_client import REGISTRY

    def counted(promise: str) -> float:
        return REGISTRY.get_sample_value("fte_escalation_first_replies_total",
                                         {"team": "legal", "promise": promise}) or 0.0

    start = clock.pin(_past_monday())  # Monday 10:00: due 11:00
    escalation, _, _ = await escalated(identity, conversation, reason=conv_pb.ESCALATION_REASON_LEGAL)
    eid = escalation.escalation_id
    clock.pin(start + timedelta(minutes=30))
    before = counted("kept")
    reply = await as_person["agent"].ReplyToCustomer(pb.ReplyToCustomerRequest(
        escalation_id=eid, content="Our legal team has it.", idempotency_key=f"kept-{eid}"))
    assert not reply.escalation.breached
    assert counted("kept") >= before + 1
    once = counted("kept")
    clock.pin(start + timedelta(hours=3))  # long past due, but it was answered in time
    got = await as_person["viewer"].GetEscalation(pb.GetEscalationRequest(escalation_id=eid))
    assert not got.escalation.breached
    await as_person["viewer"].ListEscalations(pb.ListEscalationsRequest(team="legal"))
    assert counted("kept") == once
