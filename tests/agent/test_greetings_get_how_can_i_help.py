"""A message of nothing but greetings, thanks or emoji asks nothing: it gets "How can I help
you today?" without a model run and is not handed to a person. A greeting with a question is
a question."""

from __future__ import annotations

import pytest

from services.agent.handover import EMPTY_MESSAGE_REPLY
from services.common.text import is_pleasantry
from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask

GREETINGS = ["hi", "Hello there!", "thanks!", "👍", "🙏🙏", "good morning team", "Thanks,\nAna",
             "Thank you so much!! 😊", "hey team, good afternoon", "\u200b"]


@pytest.mark.parametrize("message", GREETINGS)
async def test_a_greeting_gets_how_can_i_help(conversation, agent, message):
    ex = await ask(conversation, agent, message, WHATSAPP)
    r = ex.response

    assert list(r.reply.parts) == [f"Hi Ada! {EMPTY_MESSAGE_REPLY}"]
    assert not r.escalated and list(r.tool_calls) == [] and list(r.guardrails_tripped) == []


async def test_a_greeting_by_email_is_a_formatted_reply(conversation, agent):
    ex = await ask(conversation, agent, "Good morning!\n\nBest,\nAna", EMAIL)

    assert EMPTY_MESSAGE_REPLY in ex.text and ex.response.reply.parts[0].startswith("Dear Ada,")
    assert not ex.response.escalated


async def test_a_greeting_with_a_question_is_answered(conversation, agent):
    ex = await ask(conversation, agent, "hi, which browsers are supported?", WEB_FORM)

    assert "Chrome" in ex.text and "search_knowledge_base" in ex.tools


async def test_a_greeting_with_a_problem_is_not_a_greeting(conversation, agent):
    ex = await ask(conversation, agent, "hi, my board won't load", WEB_FORM)

    assert EMPTY_MESSAGE_REPLY not in ex.text
    assert "search_knowledge_base" in ex.tools


@pytest.mark.parametrize("text", GREETINGS + ["", "  ", "?!", "ok thanks", "Hi Ana", "<p>Hello</p>"])
def test_pleasantries(text):
    assert is_pleasantry(text)


@pytest.mark.parametrize("text", [
    "hi, my board won't load", "thanks, how do I export?", "123456", "Hola", "help me reset 2FA",
    "hello, is there a dark mode?", "Thanks for the reply. How do I add a member?",
])
def test_not_pleasantries(text):
    assert not is_pleasantry(text)
