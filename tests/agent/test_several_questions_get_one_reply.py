"""A message that asks several things gets one reply that answers each, in the order asked,
each part from its own article: one knowledge-base search per question on the first turn. A
question nothing in the knowledge base answers goes to a person (search_failed) while the
others are still answered; when none is answerable the agent hands over as it always did."""

from __future__ import annotations

import json

import pytest
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb

from services.agent.offline_model import split_questions
from services.common import formatting
from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask


def _queries(ex) -> list[str]:
    """The searches in the order they finished (the first turn's run side by side)."""
    return [json.loads(t.arguments_json)["query"] for t in ex.response.tool_calls
            if t.name == "search_knowledge_base"]


async def _slugs(knowledge, article_ids) -> list[str]:
    return [(await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=a))).article.slug
            for a in article_ids]


@pytest.mark.parametrize("channel", [WEB_FORM, EMAIL, WHATSAPP])
async def test_two_questions_are_searched_and_answered_in_the_order_asked(
    conversation, agent, knowledge, channel
):
    ex = await ask(conversation, agent,
                   "How long is the password reset link valid? Also, which browsers are supported?",
                   channel)
    r = ex.response

    assert sorted(_queries(ex)) == ["How long is the password reset link valid?",
                                    "Which browsers are supported?"]
    assert ex.tools.count("send_response") == 1
    assert "valid for 60 minutes" in ex.text and "Chrome" in ex.text
    assert ex.text.index("valid for 60 minutes") < ex.text.index("Chrome")
    assert not r.escalated
    slugs = await _slugs(knowledge, r.article_ids)
    assert len(set(slugs)) == 2 and slugs[1] == "supported-browsers"
    assert formatting.check_limits(channel, formatting.ChannelReply(
        parts=list(r.reply.parts), html=r.reply.html)) == []


async def test_three_questions_fit_in_whatsapps_limits(conversation, agent):
    ex = await ask(conversation, agent,
                   "How long is the reset link valid? Which browsers are supported? "
                   "What is the API rate limit?", WHATSAPP)
    r = ex.response

    assert len(_queries(ex)) == 3
    text = ex.text
    assert "60 minutes" in text and "Chrome" in text and "100 requests per minute" in text
    assert text.index("60 minutes") < text.index("Chrome") < text.index("100 requests per minute")
    assert len(r.reply.parts) <= formatting.WHATSAPP_MAX_MESSAGES
    assert all(len(p) <= formatting.WHATSAPP_MAX_CHARS for p in r.reply.parts)
    assert formatting.REPLY_FOR_MORE not in text
    assert len(set(r.article_ids)) == 3 and not r.escalated


async def test_how_do_i_a_and_can_i_b_is_two_questions(conversation, agent):
    ex = await ask(conversation, agent,
                   "How long is the reset link valid and what is the API rate limit?", WEB_FORM)

    assert sorted(_queries(ex)) == ["How long is the reset link valid?",
                                    "What is the API rate limit?"]
    assert "60 minutes" in ex.text and "100 requests per minute" in ex.text


async def test_a_question_that_points_back_stays_with_the_one_before(conversation, agent):
    ex = await ask(conversation, agent,
                   "Can we invite clients as guests? Do they count as members?", WEB_FORM)

    assert len(_queries(ex)) == 1
    assert "do not count as members" in ex.text


async def test_an_unanswerable_part_goes_to_a_person_and_the_rest_is_answered(conversation, agent):
    ex = await ask(conversation, agent,
                   "Which browsers are supported? Also, what's the weather in Lisbon tomorrow?",
                   WEB_FORM)
    r = ex.response

    assert "Chrome" in ex.text
    assert ('I couldn\'t find the answer to "What\'s the weather in Lisbon tomorrow" in our help '
            "articles, so I've passed it to a person on our support team") in ex.text
    assert ex.text.index("Chrome") < ex.text.index("I couldn't find")
    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_SEARCH_FAILED
    # The unanswered part was searched twice (its own words, then the articles' words).
    queries = _queries(ex)
    assert sorted(queries[:2]) == ["What's the weather in Lisbon tomorrow?",
                                   "Which browsers are supported?"]
    assert len(queries) == 3
    assert ex.tools.count("escalate_to_human") == 1 and ex.tools.count("send_response") == 1
    assert len(r.article_ids) == 1
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ex.recorded.ticket_id))
    assert [e.reason for e in ticket.escalations] == [conv_pb.ESCALATION_REASON_SEARCH_FAILED]
    assert "Lisbon" in ticket.escalations[0].note


async def test_when_no_part_is_answerable_it_hands_over_as_before(conversation, agent):
    ex = await ask(conversation, agent,
                   "What's the weather in Lisbon tomorrow? Also, who won the football match "
                   "last night?", WHATSAPP)
    r = ex.response

    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_SEARCH_FAILED
    assert "I couldn't find the answer to this in our help articles" in ex.text
    assert len(_queries(ex)) == 4 and list(r.article_ids) == []


@pytest.mark.parametrize("message, parts", [
    ("How do I reset my password?", ["How do I reset my password?"]),
    ("How do I reset my password? Also, can I export my boards to CSV?",
     ["How do I reset my password?", "Can I export my boards to CSV?"]),
    ("How do I export my data? I'm on the Team plan.",
     ["How do I export my data? I'm on the Team plan."]),
    ("Where do I find the audit log and how long is it kept?",
     ["Where do I find the audit log and how long is it kept?"]),
    ("How do I reset my password? Also, I need to change my email address.",
     ["How do I reset my password?", "I need to change my email address."]),
    ("Is there a dark mode? Which browsers work? What is the API rate limit? Is SSO included?",
     ["Is there a dark mode?", "Which browsers work?",
      "What is the API rate limit? Is SSO included?"]),
    ("what about on mobile?", ["what about on mobile?"]),
])
def test_split_questions(message, parts):
    assert split_questions(message) == parts
