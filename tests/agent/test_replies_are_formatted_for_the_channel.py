"""Email: formal, greeting and signature, plain text plus HTML, at most 500 words per part.
WhatsApp: concise, no markdown, at most 300 characters per message, "Reply for more" when cut.
Web: semi-formal, at most 300 words."""

from __future__ import annotations

from services.common import formatting
from services.common.formatting import EMAIL, WEB_FORM, WHATSAPP
from tests.agent.helpers import ask

LONG = " ".join(f"Sentence number {i} explains one more detail about boards and tasks." for i in range(120))


def test_email_is_formal_and_long_replies_are_split_at_500_words():
    reply = formatting.format_reply(EMAIL, LONG, "Ada Lovelace", "Boards")

    assert len(reply.parts) >= 3
    assert all(len(p.split()) <= 500 for p in reply.parts)
    assert reply.parts[0].startswith("Dear Ada,")
    assert reply.parts[-1].endswith("Kind regards,\nFlowboard Support")
    assert reply.html.startswith("<!DOCTYPE html>") and "<p>Dear Ada,</p>" in reply.html
    assert reply.subject == "Re: Boards"
    assert formatting.check_limits(EMAIL, reply) == []


def test_whatsapp_is_plain_short_messages_ending_with_reply_for_more():
    reply = formatting.format_reply(WHATSAPP, "**Bold** and `code`.\n\n# Heading\n" + LONG, "Ada")

    assert 1 < len(reply.parts) <= 3
    assert all(len(p) <= 300 for p in reply.parts)
    assert not any(m in p for p in reply.parts for m in ("**", "`", "# "))
    assert reply.parts[-1].endswith("Reply for more.")
    assert reply.parts[0].startswith("Hi Ada! Bold and code.")


def test_web_is_semi_formal_with_at_most_300_words_per_part():
    reply = formatting.format_reply(WEB_FORM, LONG, "Ada")

    assert reply.parts[0].startswith("Hi Ada,")
    assert reply.parts[-1].endswith("Best regards,\nFlowboard Support")
    assert all(len(p.split()) <= 300 for p in reply.parts)


def test_a_name_that_is_an_address_is_not_used_in_the_greeting():
    assert formatting.format_reply(EMAIL, "x", "ada@example.com").parts[0].startswith("Hello,")


async def test_the_same_question_is_shaped_per_channel_over_grpc(conversation, agent):
    question = "I did not get the password reset email"
    email = await ask(conversation, agent, question, EMAIL, subject="Reset email")
    whatsapp = await ask(conversation, agent, question, WHATSAPP)
    web = await ask(conversation, agent, question, WEB_FORM)

    for ex in (email, whatsapp, web):
        assert "spam" in ex.text
    assert email.response.reply.html and email.response.reply.subject == "Re: Reset email"
    assert all(len(p) <= 300 for p in whatsapp.response.reply.parts)
    assert whatsapp.response.reply.html == ""
    assert web.text.startswith("Hi Ada,") and len(web.text.split()) <= 300
