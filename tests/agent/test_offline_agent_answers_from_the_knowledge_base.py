"""With no configuration the agent runs on the offline model: it drives the same tools over
gRPC and composes the answer from the text of the articles it retrieved."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from prometheus_client import REGISTRY
from fte.agent.v1 import agent_service_pb2 as agent_pb
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb

from services.agent.offline_model import MODEL_NAME
from tests.agent.helpers import EMAIL, WEB_FORM, WHATSAPP, ask
from tests.running_services import rpc_error


async def test_email_question_gets_a_grounded_formal_answer(conversation, agent, knowledge):
    ex = await ask(conversation, agent, "Hi,\n\nhow long is the password reset link valid?\n\nThanks,\nAda",
                   EMAIL, subject="Password reset")
    r = ex.response

    assert "valid for 60 minutes" in r.reply.text
    assert r.reply.parts[0].startswith("Dear Ada,") and "Kind regards,\nFlowboard Support" in r.reply.parts[-1]
    assert r.reply.subject == "Re: Password reset" and "<p>" in r.reply.html
    assert not r.escalated
    assert ex.tools[:3] and set(ex.tools) >= {
        "create_ticket", "get_customer_history", "search_knowledge_base", "send_response"}
    assert all(t.ok for t in r.tool_calls)
    used = [(await knowledge.GetArticle(kb_pb.GetArticleRequest(article_id=a))).article
            for a in r.article_ids]
    assert used and used[0].slug in {"password-reset", "reset-link-expired"}
    assert "valid for 60 minutes" in used[0].body
    assert r.model == MODEL_NAME
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.latency_ms > 0


async def test_ticket_is_marked_processing_by_create_ticket(conversation, agent):
    ex = await ask(conversation, agent, "Which browsers are supported?", WEB_FORM)

    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ex.recorded.ticket_id))
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_PROCESSING
    assert "Chrome, Firefox, Safari and Edge" in ex.text


def _status_moves_answered() -> float:
    """UpdateTicketStatus calls the conversation service (in this process) has answered."""
    return sum(
        sample.value
        for metric in REGISTRY.collect() if metric.name == "fte_rpc_server_duration_seconds"
        for sample in metric.samples
        if sample.name.endswith("_count") and sample.labels["method"] == "UpdateTicketStatus"
    )


async def test_a_ticket_recordinbound_moved_to_processing_costs_the_agent_no_call(conversation, agent):
    # As the inbound worker asks: RecordInbound moves the ticket, Respond is told so.
    before = _status_moves_answered()
    ex = await ask(conversation, agent, "Which browsers are supported?", WEB_FORM, begin_processing=True)
    assert ex.recorded.ticket_status == conv_pb.TICKET_STATUS_PROCESSING
    assert _status_moves_answered() == before
    assert [t.ok for t in ex.response.tool_calls if t.name == "create_ticket"] == [True]
    assert "Chrome, Firefox, Safari and Edge" in ex.text
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ex.recorded.ticket_id))
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_PROCESSING

    # Told nothing, the agent moves the ticket itself: one call.
    await ask(conversation, agent, "Which browsers are supported?", WEB_FORM)
    assert _status_moves_answered() == before + 1


async def test_answer_is_extracted_from_the_current_article_text(conversation, agent, knowledge):
    # A temporary article with a made-up product detail: the reply can only contain it if the
    # model reads the retrieved article; editing the article changes the reply.
    slug = f"test-{uuid.uuid4().hex[:8]}"

    async def upsert(body: str):
        await knowledge.UpsertArticle(kb_pb.UpsertArticleRequest(article=kb_pb.Article(
            slug=slug, title="How do zebra stickers work on boards?", category="testing",
            body=body)))

    try:
        await upsert("Zebra stickers mark a board as striped. Striped boards glow purple on Fridays.")
        first = await ask(conversation, agent, "How do zebra stickers work on boards?", WEB_FORM)
        await upsert("Zebra stickers mark a board as spotted. Spotted boards glow orange on Mondays.")
        second = await ask(conversation, agent, "How do zebra stickers work on boards?", WEB_FORM)
    finally:
        await knowledge.DeleteArticle(kb_pb.DeleteArticleRequest(article_id=slug))

    assert "Striped boards glow purple on Fridays." in first.text
    assert "Spotted boards glow orange on Mondays." in second.text
    assert "purple" not in second.text


async def test_a_feature_the_base_does_not_describe_is_not_available_today(conversation, agent):
    ex = await ask(conversation, agent, "Is there a dark mode?", WHATSAPP)

    assert "Dark mode is not available in Flowboard today." in ex.text
    assert not ex.response.escalated


async def test_a_listed_feature_gap_is_answered_from_its_article(conversation, agent):
    ex = await ask(conversation, agent, "Do you have a Jira integration?", WEB_FORM)

    assert "There is no Jira integration" in ex.text and "CSV importer" in ex.text


async def test_two_searches_that_find_nothing_escalate(conversation, agent):
    ex = await ask(conversation, agent, "What's the weather in Lisbon tomorrow?", WEB_FORM)
    r = ex.response

    assert ex.tools.count("search_knowledge_base") == 2
    assert r.escalated and r.escalation_reason == conv_pb.ESCALATION_REASON_SEARCH_FAILED
    assert "escalate_to_human" in ex.tools
    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ex.recorded.ticket_id))
    assert [e.reason for e in ticket.escalations] == [conv_pb.ESCALATION_REASON_SEARCH_FAILED]
    assert ticket.ticket.status == conv_pb.TICKET_STATUS_ESCALATED
    args = json.loads(next(t.arguments_json for t in r.tool_calls if t.name == "escalate_to_human"))
    assert args["reason"] == "search_failed"


async def test_an_outage_report_points_to_the_status_page_and_escalates(conversation, agent):
    ex = await ask(conversation, agent, "Flowboard is down for our whole team", EMAIL)

    assert "status.flowboard.example" in ex.text
    assert ex.response.escalated
    assert ex.response.escalation_reason == conv_pb.ESCALATION_REASON_OTHER


async def test_empty_message_gets_how_can_i_help(conversation, agent):
    ex = await ask(conversation, agent, "  \n\t ", WHATSAPP)

    assert ex.response.reply.parts == ["Hi Ada! How can I help you today?"]
    assert not ex.response.escalated and list(ex.response.tool_calls) == []


@pytest.mark.parametrize(
    "request_kw, field",
    [({"ticket_id": ""}, "ticket_id"), ({"customer_id": "nope"}, "customer_id"),
     ({"channel": 0}, "channel")],
)
async def test_respond_without_ticket_customer_or_channel_is_invalid(agent, request_kw, field):
    fields = dict(ticket_id=str(uuid.uuid4()), customer_id=str(uuid.uuid4()), channel=WEB_FORM,
                  message="hello")
    fields.update(request_kw)
    err = await rpc_error(agent.Respond(agent_pb.RespondRequest(**fields)))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.details()


async def test_respond_for_an_unrecorded_ticket_creates_it(conversation, agent):
    # A direct caller (grpcurl) may skip RecordInbound: create_ticket makes sure it exists.
    ticket_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
    r = await agent.Respond(agent_pb.RespondRequest(
        ticket_id=ticket_id, customer_id=customer_id, channel=WEB_FORM,
        message="Which browsers are supported?", message_id="direct-1"))

    ticket = await conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket_id))
    assert ticket.ticket.customer_id == customer_id
    assert "Chrome" in "\n".join(r.reply.parts)
