"""A follow-up that means nothing on its own ("it still doesn't work") is searched together
with the customer's recent messages (what get_customer_history shows), and the answer names
the earlier message it is about. A claimed sender's follow-up only has this ticket to lean on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask

EARLIER = "My push notifications stopped arriving."


def _queries(ex) -> list[str]:
    return [json.loads(t.arguments_json)["query"] for t in ex.response.tool_calls
            if t.name == "search_knowledge_base"]


async def _asked_before(conversation, agent, channel=WHATSAPP, assurance=0) -> str:
    customer = str(uuid.uuid4())
    await ask(conversation, agent, EARLIER, channel, customer_id=customer,
              at=datetime.now(UTC) - timedelta(hours=3), assurance=assurance)
    return customer


@pytest.mark.parametrize("follow_up", [
    "it still doesn't work", "same problem today", "and the other thing I asked?",
    "what about on mobile?",
])
async def test_a_follow_up_is_answered_about_the_earlier_message(conversation, agent, follow_up):
    customer = await _asked_before(conversation, agent)

    ex = await ask(conversation, agent, follow_up, WHATSAPP, customer_id=customer)
    r = ex.response

    assert 'About your earlier message on "push notifications stopped arriving":' in ex.text
    assert "Do Not Disturb" in ex.text
    assert not r.escalated and r.article_ids
    queries = _queries(ex)
    assert queries[0] == follow_up
    assert queries[1] == f"{EARLIER} {follow_up}"


async def test_the_history_tool_shows_the_earlier_customer_messages(conversation, agent):
    from services.agent.tools import RespondInput, TurnContext, customer_history

    customer = await _asked_before(conversation, agent)
    ex = await ask(conversation, agent, "it still doesn't work", WHATSAPP, customer_id=customer)
    turn = TurnContext(
        request=RespondInput(ticket_id=ex.recorded.ticket_id, customer_id=customer,
                             conversation_id="", channel=WHATSAPP,
                             message="it still doesn't work",
                             message_id=ex.recorded.message_id),
        knowledge=None, conversation=conversation, min_score=0.0, multilingual=False,
    )
    seen = await customer_history(turn)

    assert [m["text"] for m in seen["messages"] if m["from"] == "customer"] == [EARLIER]


async def test_an_earlier_message_on_another_channel_is_named_once(conversation, agent):
    customer = await _asked_before(conversation, agent, channel=EMAIL)

    ex = await ask(conversation, agent, "it still doesn't work", WHATSAPP, customer_id=customer)

    assert ex.text.count("push notifications stopped arriving") == 1
    assert "About your earlier message on" in ex.text


async def test_a_question_that_stands_on_its_own_is_not_tied_to_the_earlier_one(conversation, agent):
    customer = await _asked_before(conversation, agent)

    ex = await ask(conversation, agent, "Which browsers are supported?", WHATSAPP, customer_id=customer)

    assert "Chrome" in ex.text and "earlier message" not in ex.text
    assert len(_queries(ex)) == 1


async def test_a_claimed_sender_cannot_lean_on_the_owners_earlier_messages(conversation, agent):
    customer = await _asked_before(conversation, agent, channel=EMAIL,
                                   assurance=SENDER_ASSURANCE_VERIFIED)

    ex = await ask(conversation, agent, "it still doesn't work", WEB_FORM, customer_id=customer,
                   assurance=SENDER_ASSURANCE_CLAIMED)

    assert "push notifications" not in ex.text.lower() and "earlier message" not in ex.text
    assert all("push" not in q for q in _queries(ex))
    assert ex.response.escalated
    assert ex.response.escalation_reason == conv_pb.ESCALATION_REASON_SEARCH_FAILED
