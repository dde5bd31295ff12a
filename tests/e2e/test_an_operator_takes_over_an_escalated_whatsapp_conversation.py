"""A person takes over what the agent escalated, on the running pipeline: a pricing question on
WhatsApp is escalated to sales, whose chat webhook and mailbox are told with a link to it; an operator (an agent-role API key) lists the queue, claims it
and replies over gRPC (HandoffService on the conversation process); the reply reaches the
customer through the dispatcher and Twilio; while the operator holds the conversation the agent
stays silent (the customer is told once who will reply); once resolved, the agent answers
again."""

from __future__ import annotations

import uuid

import httpx

from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.handoff.v1 import handoff_service_pb2 as pb
from fte.handoff.v1 import handoff_service_pb2_grpc as pb_grpc

from devstack.migrate import service_dsn
from services.common.grpc_client import open_channel
from tests.access_services import create_key
from tests.e2e.channel_loop import (
    callback_query,
    gmail_sent_to,
    history,
    inbound,
    new_phone,
    post_whatsapp,
    twilio_sent_to,
    until,
    whatsapp_answer,
)

PRICING = "How much does the Business plan cost per user per month?"
OPERATOR = "Grace Hopper"
SALES = "sales@flowboard.example"


async def _queued_for(handoff, ticket_id: str) -> pb.QueuedEscalation | None:
    token = ""
    while True:
        page = await handoff.ListEscalations(pb.ListEscalationsRequest(
            team="sales", page_size=200, page_token=token))
        for e in page.escalations:
            if e.ticket_id == ticket_id:
                return e
        token = page.next_page_token
        if not token:
            return None


async def test_an_operator_claims_replies_holds_and_resolves(
        stack, pipeline, channel_fakes, identity, conversation):
    operator_key = await create_key(service_dsn(stack.admin_dsn, "access"), "agent", OPERATOR)
    phone = new_phone()

    assert (await post_whatsapp(channel_fakes, phone, PRICING)).status_code == 200
    handover = await whatsapp_answer(channel_fakes, phone)
    assert "sales" in " ".join(m["Body"] for m in handover)
    [question] = inbound(await history(identity, conversation, phone=phone))

    async with open_channel(pipeline.address("conversation"), 20, credential=operator_key) as channel:
        handoff = pb_grpc.HandoffServiceStub(channel)
        queued = await until(lambda: _queued_for(handoff, question.ticket_id),
                             "the escalation in the sales queue", timeout=30)
        assert queued.reason == conv_pb.ESCALATION_REASON_PRICING and queued.team == "sales"
        assert queued.state == pb.ESCALATION_STATE_OPEN

        # The sales team heard of it — on its chat webhook and by email through the dispatcher
        # and Gmail — with a link to this very escalation in the inbox.
        hooked = await until(lambda: [b for b in channel_fakes.webhook.bodies("/hooks/sales")
                                      if phone in b["customer"]["phones"]], "the sales webhook")
        link = f"{channel_fakes.public_base_url}/inbox/#/escalations/{queued.escalation_id}"
        assert hooked[0]["link"] == link and hooked[0]["reason"] == "pricing"
        mailed = await until(lambda: [s for s in gmail_sent_to(channel_fakes, SALES)
                                      if phone in s.mime.get_body(("plain",)).get_content()],
                             "the email to sales")
        assert link in mailed[0].mime.get_body(("plain",)).get_content()

        claimed = await handoff.ClaimEscalation(pb.ClaimEscalationRequest(
            escalation_id=queued.escalation_id))
        assert claimed.escalation.owner.display_name == OPERATOR
        answer = "Business is quoted per seat; I have sent you our current price list by email."
        replied = await handoff.ReplyToCustomer(pb.ReplyToCustomerRequest(
            escalation_id=queued.escalation_id, content=answer,
            idempotency_key=f"e2e-{uuid.uuid4().hex}"))
        assert not replied.duplicate and replied.escalation.HasField("first_reply_time")

        # The person's reply reaches the customer on WhatsApp, through the dispatcher.
        sent_before = len(handover)
        from_person = await whatsapp_answer(channel_fakes, phone, after=sent_before)
        assert " ".join(m["Body"] for m in from_person).endswith(answer)
        sent_before += len(from_person)

        # The customer writes twice while the operator holds the conversation: the agent stays
        # silent, and the customer hears once who will reply.
        await post_whatsapp(channel_fakes, phone, "Thanks! And is there a discount for NGOs?")
        notice = await whatsapp_answer(channel_fakes, phone, after=sent_before)
        assert OPERATOR in notice[0]["Body"] and "added" in notice[0]["Body"]
        sent_before += len(notice)
        await post_whatsapp(channel_fakes, phone, "Also, can we pay yearly?")

        async def both_recorded():
            messages = await history(identity, conversation, phone=phone)
            return messages if len(inbound(messages)) == 3 else None

        messages = await until(both_recorded, "both held messages recorded", timeout=60)
        after_reply = [m for m in messages if m.create_time.ToDatetime() >=
                       next(x for x in messages if x.role == conv_pb.MESSAGE_ROLE_HUMAN).create_time.ToDatetime()]
        assert not [m for m in after_reply if m.role == conv_pb.MESSAGE_ROLE_AGENT]
        assert len([m for m in after_reply if m.role == conv_pb.MESSAGE_ROLE_SYSTEM]) == 1

        resolved = await handoff.ResolveEscalation(pb.ResolveEscalationRequest(
            escalation_id=queued.escalation_id, note="Price list sent."))
        assert resolved.escalation.state == pb.ESCALATION_STATE_RESOLVED

    # Back with the agent: the next message is answered by it.
    await post_whatsapp(channel_fakes, phone, "How do I reset my password?")
    answered = await whatsapp_answer(channel_fakes, phone, after=sent_before)
    assert "Forgot password" in " ".join(m["Body"] for m in answered)
    # Nothing else was sent meanwhile: the second held message got no notice.
    reply_ids = [callback_query(m)["reply_id"] for m in twilio_sent_to(channel_fakes, phone)]
    assert len(dict.fromkeys(reply_ids)) == 4  # handover, person, notice, agent

    # The conversation process serves the queue's first-reply counter to Prometheus (make run: 50058).
    spec = next(p for p in pipeline.processes if p.name == "conversation")
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = await client.get(f"http://127.0.0.1:{spec.env['METRICS_PORT']}/metrics")
    assert metrics.status_code == 200 and "fte_escalation_first_replies" in metrics.text
