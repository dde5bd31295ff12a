"""What a claim proves (issue 12): a sender who only typed an address (a web form without an
identity token) gets an answer, but never the earlier contact of whoever owns that address; and
a claimed message is never quoted back to the proven owner as their own earlier contact."""

from __future__ import annotations

import json
import uuid

from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.agent.helpers import EMAILED, WEB_FORM, WHATSAPP, ask, customer_who_emailed



async def test_a_claimed_sender_is_answered_without_the_owners_earlier_contact(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "How do I create a new API token?", WEB_FORM,
                   customer_id=customer, assurance=SENDER_ASSURANCE_CLAIMED)

    assert "Settings → Developer → Tokens" in ex.text
    assert "I see you" not in ex.text and "401" not in ex.text
    history = next(t for t in ex.response.tool_calls if t.name == "get_customer_history")
    assert history.ok
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ex.recorded.ticket_id))
    assert [m.sender_assurance for m in ticket.messages if m.role == conv_pb.MESSAGE_ROLE_CUSTOMER] \
        == [SENDER_ASSURANCE_CLAIMED]


async def test_a_verified_sender_hears_about_their_earlier_contact(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)

    ex = await ask(conversation, agent, "How do I create a new API token?", WEB_FORM,
                   customer_id=customer, assurance=SENDER_ASSURANCE_VERIFIED)

    assert 'I see you emailed us on 12 Nov 2024 about "401 errors"' in ex.text


async def test_a_claimed_message_is_not_quoted_to_the_proven_owner(conversation, agent):
    customer = str(uuid.uuid4())
    await ask(conversation, agent, "Please close my account and all my workspaces.", WEB_FORM,
              customer_id=customer, subject="Close my account", at=EMAILED,
              assurance=SENDER_ASSURANCE_CLAIMED)

    ex = await ask(conversation, agent, "Which browsers are supported?", WHATSAPP,
                   customer_id=customer, assurance=SENDER_ASSURANCE_VERIFIED)

    assert "Chrome" in ex.text
    assert "I see you" not in ex.text and "Close my account" not in ex.text


async def test_a_claimed_sender_still_sees_this_tickets_own_messages(conversation, agent):
    customer = await customer_who_emailed(conversation, agent)
    ex = await ask(conversation, agent, "How do I create a new API token?", WEB_FORM,
                   customer_id=customer, assurance=SENDER_ASSURANCE_CLAIMED)
    await conversation.RecordOutbound(conv_pb.RecordOutboundRequest(
        ticket_id=ex.recorded.ticket_id, content="Here is how.", reply_id=str(uuid.uuid4())))

    from services.agent.tools import RespondInput, TurnContext, customer_history

    turn = TurnContext(
        request=RespondInput(ticket_id=ex.recorded.ticket_id, customer_id=customer,
                             conversation_id="", channel=WEB_FORM, message="Thanks!",
                             sender_verified=False),
        knowledge=None, conversation=conversation, min_score=0.0, multilingual=False,
    )
    seen = await customer_history(turn)

    texts = [m["text"] for m in seen["messages"]]
    assert texts == ["How do I create a new API token?", "Here is how."]
    assert seen["sender_verified"] is False and seen["earlier_contact_on_other_channels"] == []
    assert "401" not in json.dumps(seen)


async def test_a_ticket_the_agent_records_itself_keeps_the_claim(conversation, agent):
    from fte.agent.v1 import agent_service_pb2 as agent_pb

    customer, ticket = str(uuid.uuid4()), str(uuid.uuid4())
    await agent.Respond(agent_pb.RespondRequest(
        ticket_id=ticket, customer_id=customer, channel=WEB_FORM,
        message="Which browsers are supported?", sender_assurance=SENDER_ASSURANCE_CLAIMED,
    ))

    found = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket))
    [inbound] = [m for m in found.messages if m.role == conv_pb.MESSAGE_ROLE_CUSTOMER]
    assert inbound.sender_assurance == SENDER_ASSURANCE_CLAIMED
