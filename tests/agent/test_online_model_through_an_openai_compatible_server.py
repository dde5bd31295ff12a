"""OPENAI_BASE_URL (+ OPENAI_API_KEY) switches the agent to an OpenAI-compatible model: here a
local HTTP server speaking the Chat Completions wire format that answers with tool calls. The
same tools run over gRPC, the guardrails apply to what the model writes."""

from __future__ import annotations

import json

from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from tests.agent.conftest import ONLINE_MODEL
from tests.agent.fake_openai import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask


async def test_the_model_calls_the_tools_and_its_reply_is_sent(conversation, online_agent, llm):
    ex = await ask(conversation, online_agent, "What is the API rate limit?", WEB_FORM)
    r = ex.response

    assert "100 requests per minute per token" in ex.text
    assert not r.escalated
    # The first three run concurrently (one model turn); send_response comes last.
    assert sorted(ex.tools[:3]) == ["create_ticket", "get_customer_history", "search_knowledge_base"]
    assert ex.tools[3:] == ["send_response"]
    assert r.model == ONLINE_MODEL
    calls = len(llm.requests)
    assert calls == 2  # tools first, then send_response
    assert r.usage.input_tokens == calls * PROMPT_TOKENS
    assert r.usage.output_tokens == calls * COMPLETION_TOKENS
    assert r.article_ids
    # What went over the wire: the configured model, the key, the seven tools, the hard rules.
    first = llm.requests[0]
    assert first["model"] == ONLINE_MODEL
    assert llm.headers[0]["authorization"] == "Bearer sk-test-key"
    assert {t["function"]["name"] for t in first["tools"]} == {
        "search_knowledge_base", "get_customer_history", "create_ticket", "escalate_to_human",
        "send_response", "request_account_link", "confirm_account_link"}
    system = first["messages"][0]["content"]
    assert "Never state, estimate or compare prices" in system
    assert "escalate" in system and "two searches" in system


async def test_tool_results_reach_the_model_as_tool_messages(conversation, online_agent, llm):
    await ask(conversation, online_agent, "Is there a Linux app?", WHATSAPP)

    tool_messages = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    search = next(json.loads(m["content"]) for m in tool_messages if "results" in m["content"])
    assert search["relevant"] and "Linux" in search["results"][0]["body"]


async def test_a_price_written_by_the_model_is_blocked_and_handed_to_sales(
    conversation, online_agent, llm
):
    llm.reply_text = lambda question, results: "Team costs $10 per user per month."
    ex = await ask(conversation, online_agent, "What does the Team plan include?", EMAIL)
    r = ex.response

    assert "$" not in ex.text and "sales@flowboard.example" in ex.text
    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_PRICING
    assert "output_price" in r.guardrails_tripped


async def test_a_promise_written_by_the_model_is_blocked(conversation, online_agent, llm):
    llm.reply_text = lambda q, results: "Dark mode is coming soon, in the next release!"
    ex = await ask(conversation, online_agent, "Which browsers are supported?", WEB_FORM)

    assert "coming soon" not in ex.text
    assert ex.response.escalated and "output_promise" in ex.response.guardrails_tripped


async def test_a_long_model_answer_is_split_within_channel_limits(conversation, online_agent, llm):
    long_answer = " ".join(f"Detail {i} of the answer about boards and tasks." for i in range(140))
    llm.reply_text = lambda q, results: long_answer
    email = await ask(conversation, online_agent, "Tell me everything about boards", EMAIL)
    whatsapp = await ask(conversation, online_agent, "Tell me everything about boards", WHATSAPP)

    assert len(email.response.reply.parts) >= 2
    assert all(len(p.split()) <= 500 for p in email.response.reply.parts)
    assert all(len(p) <= 300 for p in whatsapp.response.reply.parts)
    assert whatsapp.response.reply.parts[-1].endswith("Reply for more.")
    assert not email.response.escalated


async def test_non_english_is_answered_in_that_language_by_a_multilingual_model(
    conversation, online_agent, llm
):
    # As instructed, the model searches the (English) knowledge base in English.
    llm.search_query = lambda q: "How do I reset my password?"
    llm.reply_text = lambda q, results: (
        "Elige \"Forgot password\" en la página de inicio de sesión; el enlace llega en 5 minutos.")
    ex = await ask(conversation, online_agent, "Hola, ¿cómo cambio mi contraseña?", WHATSAPP)

    assert not ex.response.escalated
    assert "el enlace llega en 5 minutos" in ex.text
    system = llm.requests[0]["messages"][0]["content"]
    assert "Reply in the language the customer wrote in" in system


async def test_non_english_is_escalated_when_the_model_cannot_answer_it(conversation, agent):
    ex = await ask(conversation, agent, "Hola, ¿cómo cambio mi contraseña?", WHATSAPP)
    r = ex.response

    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_OTHER
    assert "language" in r.guardrails_tripped
    assert "Gracias por tu mensaje" in ex.text
