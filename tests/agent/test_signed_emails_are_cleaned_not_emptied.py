"""An email's greeting and sign-off are taken off before searching, and only they: a body of
"Hi,\n\nThanks for the reply. <question>\n\nBest,\nAna" used to be cleaned to nothing (the
sign-off pattern ate everything from "Thanks" on), so the search got an empty query and
Respond failed with INVALID_ARGUMENT. No message makes the model search for nothing."""

from __future__ import annotations

import json

import pytest

from services.agent.handover import EMPTY_MESSAGE_REPLY
from services.common.text import clean_question
from tests.agent.helpers import EMAIL, WEB_FORM, ask


def _queries(ex) -> list[str]:
    return [json.loads(t.arguments_json)["query"] for t in ex.response.tool_calls
            if t.name == "search_knowledge_base"]


async def test_thanks_for_the_reply_then_a_question_is_answered(conversation, agent):
    ex = await ask(conversation, agent,
                   "Hi,\n\nThanks for the reply. How long is the password reset link valid?"
                   "\n\nBest,\nAna", EMAIL)

    assert "valid for 60 minutes" in ex.text
    assert _queries(ex)[0] == "How long is the password reset link valid?"
    assert not ex.response.escalated


@pytest.mark.parametrize("message", [
    "Thanks for the quick answer! Which browsers are supported?\n\nCheers\nAna Silva\nCTO, Acme",
    "Thanks, which browsers are supported?",
    "Which browsers are supported?\n\nThanks in advance,\nAna\n\n-- \nAna Silva | Acme Ltd",
])
async def test_thanks_around_a_question_keeps_the_question(conversation, agent, message):
    ex = await ask(conversation, agent, message, EMAIL)

    assert "Chrome" in ex.text
    assert all(q.strip() for q in _queries(ex))


async def test_a_signature_alone_gets_how_can_i_help(conversation, agent):
    ex = await ask(conversation, agent, "Thanks,\nAna", EMAIL)

    assert EMPTY_MESSAGE_REPLY in ex.text and not ex.response.escalated


async def test_a_subject_with_only_a_signature_is_searched_by_its_subject(conversation, agent):
    ex = await ask(conversation, agent, "Thanks,\nAna", EMAIL, subject="Which browsers are supported?")

    assert "Chrome" in ex.text
    assert _queries(ex)[0] == "Which browsers are supported?."


async def test_invisible_text_around_a_question_is_dropped(conversation, agent):
    ex = await ask(conversation, agent, "<p>Which\u200b browsers are <b>supported</b>?</p>", WEB_FORM)

    assert "Chrome" in ex.text


@pytest.mark.parametrize("message, cleaned", [
    ("Hi,\n\nThanks for the reply. How do I export my data?\n\nBest,\nAna", "How do I export my data?"),
    ("Hi,\n\nhow long is the password reset link valid?\n\nThanks,\nAda",
     "how long is the password reset link valid?"),
    ("How do I reset my password?\nBest practice for boards?\n\nCheers\nAna Silva\nCTO, Acme",
     "How do I reset my password? Best practice for boards?"),
    ("thanks\nhow do i export", "thanks how do i export"),
    ("Thanks,\nAna", "Thanks, Ana"),  # nothing but a sign-off: kept as it came, never empty
    ("Subject: Password reset\n\nThanks,\nAna", "Password reset."),
    ("\u200b\u200b", ""),
])
def test_clean_question(message, cleaned):
    assert clean_question(message) == cleaned


async def test_the_search_tool_never_sends_an_empty_query(conversation, knowledge):
    # Whatever model calls the tool (an online one may send ""): the customer's message is
    # searched instead, and with nothing visible anywhere nothing is found, without an error.
    import uuid

    from services.agent.tools import RespondInput, TurnContext, search

    def turn(message: str) -> TurnContext:
        return TurnContext(
            request=RespondInput(ticket_id=str(uuid.uuid4()), customer_id=str(uuid.uuid4()),
                                 conversation_id="", channel=WEB_FORM, message=message),
            knowledge=knowledge, conversation=conversation, min_score=0.42, multilingual=False,
        )

    found = await search(turn("Which browsers are supported?"), " \u200b ")
    assert found["relevant"] and "Chrome" in found["results"][0]["body"]
    assert (await search(turn("\u200b"), ""))["relevant"] is False
