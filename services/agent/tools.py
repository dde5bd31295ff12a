"""The agent's function tools and the per-reply context they share.

Every tool calls a gRPC service (KnowledgeService, ConversationService) through stubs made
from channels the service owns; nothing here touches a database. Each call is recorded on the
turn context (name, arguments, ok) for RespondResponse.tool_calls.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import grpc
from agents import RunContextWrapper, function_tool
from fte.common.v1.sender_assurance_pb2 import SENDER_ASSURANCE_CLAIMED, SENDER_ASSURANCE_VERIFIED
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.conversation.v1 import conversation_service_pb2_grpc as conv_grpc
from fte.knowledge.v1 import knowledge_service_pb2 as kb_pb
from fte.knowledge.v1 import knowledge_service_pb2_grpc as kb_grpc

from services.agent import handover, linking
from services.agent.guardrails import Concern, Violation
from services.common import channels, link_codes
from services.common.metrics import KNOWLEDGE_SEARCHES, TOOL_CALLS
from services.common.text import visible_text

log = logging.getLogger(__name__)

REASONS = {
    "pricing": conv_pb.ESCALATION_REASON_PRICING,
    "refund": conv_pb.ESCALATION_REASON_REFUND,
    "legal": conv_pb.ESCALATION_REASON_LEGAL,
    "anger": conv_pb.ESCALATION_REASON_ANGER,
    "human_request": conv_pb.ESCALATION_REASON_HUMAN_REQUEST,
    "search_failed": conv_pb.ESCALATION_REASON_SEARCH_FAILED,
    "processing_error": conv_pb.ESCALATION_REASON_PROCESSING_ERROR,
    "other": conv_pb.ESCALATION_REASON_OTHER,
}
# Articles tagged like this answer the customer *and* need a person (an outage with no
# incident on the status page, an owner locked out of 2FA).
ESCALATE_TAG = "escalate"
# The tool shows the last 20 messages (all channels); more are read so the rate limit can
# count a burst of inbound messages even when replies are interleaved with them.
HISTORY_SHOWN = 20
HISTORY_READ = 60
SEARCH_RESULTS = 3


@dataclass(frozen=True)
class RespondInput:
    ticket_id: str
    customer_id: str
    conversation_id: str
    channel: int
    message: str
    subject: str = ""
    customer_name: str = ""
    message_id: str = ""
    # False when the sender only claimed the address (a web form without an identity token):
    # the history the agent reads is then this ticket's own messages only.
    sender_verified: bool = True
    # The caller (the inbound worker's RecordInbound) already moved the ticket to processing.
    ticket_processing: bool = False


@dataclass
class ToolRecord:
    name: str
    arguments: dict[str, Any]
    ok: bool


@dataclass
class TurnContext:
    """Everything one Respond needs and learns; the SDK hands it to tools and guardrails."""

    request: RespondInput
    knowledge: kb_grpc.KnowledgeServiceStub
    conversation: conv_grpc.ConversationServiceStub
    min_score: float
    multilingual: bool
    tool_calls: list[ToolRecord] = field(default_factory=list)
    history: list[conv_pb.Message] | None = None
    searches: int = 0
    failed_searches: int = 0
    relevant_article_ids: list[str] = field(default_factory=list)
    used_article_ids: list[str] = field(default_factory=list)
    escalation: tuple[int, str] | None = None
    tool_errors: list[BaseException] = field(default_factory=list)
    final_text: str | None = None
    input_concerns: list[Concern] | None = None
    output_violations: list[Violation] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    # IdentityService (account linking); None where the agent was built without it.
    identity: Any = None
    # The one-time code this message carries, kept here and off the model's input.
    link_code: str | None = None
    # The intent classifier (None: the guardrails use patterns and sentiment only), its view
    # of this message, and the input assessment in progress (guardrails.py).
    intents: Any = None
    intent: Any = None
    assessing: Any = None
    # Calls started so far, and the start order of each entry of tool_calls (`record`).
    _calls_started: int = field(default=0, repr=False)
    _record_order: list[int] = field(default_factory=list, repr=False)

    @property
    def channel_name(self) -> str:
        return channels.BY_VALUE.get(self.request.channel, "web_form")

    def call_started(self) -> int:
        """A tool call's place in `tool_calls`: the order the model made the calls in."""
        self._calls_started += 1
        return self._calls_started

    def record(self, name: str, arguments: dict[str, Any], ok: bool, started: int | None = None) -> None:
        """Adds a finished call in the order the calls were made, not the order they finished
        in: parallel calls (one search per question) finish in any order."""
        started = self.call_started() if started is None else started
        at = bisect.bisect(self._record_order, started)
        self._record_order.insert(at, started)
        self.tool_calls.insert(at, ToolRecord(name, arguments, ok))
        TOOL_CALLS.labels(name, "ok" if ok else "error").inc()

    async def load_history(self) -> list[conv_pb.Message]:
        """The customer's last messages, all channels (fetched once per reply)."""
        if self.history is None:
            reply = await self.conversation.GetHistory(
                conv_pb.GetHistoryRequest(customer_id=self.request.customer_id, limit=HISTORY_READ)
            )
            self.history = list(reply.messages)
        return self.history


def _date(ts) -> str:
    dt = ts.ToDatetime(tzinfo=UTC)
    return f"{dt.day} {dt:%b %Y}" if dt.year != datetime.now(UTC).year else f"{dt.day} {dt:%b}"


def _is_current(turn: TurnContext, m: conv_pb.Message) -> bool:
    if turn.request.message_id:
        return m.message_id == turn.request.message_id
    return m.direction == conv_pb.MESSAGE_DIRECTION_INBOUND and m.content == turn.request.message


# --- implementations (also used directly when a guardrail escalates) ---------------------

# Short questions ("which cards do you accept?") score lower across the board, so a clear
# single winner a little under the threshold still counts: within this band of it, and this
# far ahead of the third result. A question the base cannot answer has no clear winner: its
# best articles score low *and* close together.
CONFIDENT_BAND = 0.1
CONFIDENT_MARGIN = 0.15


def relevant_hits(results: list[kb_pb.SearchResult], min_score: float) -> list[kb_pb.SearchResult]:
    hits = [r for r in results if r.score >= min_score]
    if hits or not results:
        return hits
    top = results[0]
    third = results[2].score if len(results) > 2 else 0.0
    if top.score >= min_score - CONFIDENT_BAND and top.score - third >= CONFIDENT_MARGIN:
        return [top]
    return []



async def _article(turn: TurnContext, result: kb_pb.SearchResult) -> kb_pb.Article:
    if result.HasField("article"):
        return result.article
    return (await turn.knowledge.GetArticle(
        kb_pb.GetArticleRequest(article_id=result.article_id))).article


async def search(turn: TurnContext, query: str) -> dict[str, Any]:
    turn.searches += 1
    # Whatever model calls it, an empty query (KnowledgeService refuses it) searches the
    # customer's message instead; with nothing visible in either, nothing is found.
    query = " ".join(visible_text(query).split()) or " ".join(
        visible_text(turn.request.message).split())
    # The snippet alone is too little to answer from: the whole articles come with the results.
    found = (await turn.knowledge.Search(kb_pb.SearchRequest(
                 query=query[:2000], k=SEARCH_RESULTS, include_article=True))
             if query else kb_pb.SearchResponse())
    hits = relevant_hits(list(found.results), turn.min_score)
    # A knowledge service from before include_article leaves `article` unset: fetch those.
    articles = await asyncio.gather(*(
        _article(turn, r) for r in hits
    ))
    results = [
        {
            "article_id": r.article_id,
            "title": r.title,
            "category": r.category,
            "score": round(r.score, 3),
            "needs_human": ESCALATE_TAG in a.tags,
            "body": a.body,
        }
        for r, a in zip(hits, articles, strict=True)
    ]
    KNOWLEDGE_SEARCHES.labels("hit" if results else "miss").inc()
    if results:
        for r in results:
            if r["article_id"] not in turn.relevant_article_ids:
                turn.relevant_article_ids.append(r["article_id"])
        return {"relevant": True, "results": results}
    turn.failed_searches += 1
    return {
        "relevant": False,
        "results": [],
        "searches_without_result": turn.failed_searches,
        "note": (
            "Nothing relevant in the knowledge base. Try once more with other words; after two "
            "searches that find nothing, call escalate_to_human with reason search_failed."
            if turn.failed_searches < 2
            else "Two searches found nothing: call escalate_to_human with reason search_failed."
        ),
    }


def provable_history(turn: TurnContext, history: list[conv_pb.Message]) -> list[conv_pb.Message]:
    """What may be shown to this sender as their own earlier contact.

    A claimed sender (they typed an address nobody proved) sees this ticket's messages only: the
    customer whose address they typed may be someone else. A verified sender sees everything
    except other tickets' claimed messages, which may have been written by someone else."""
    if not turn.request.sender_verified:
        return [m for m in history if m.ticket_id == turn.request.ticket_id]
    return [
        m for m in history
        if m.ticket_id == turn.request.ticket_id
        or m.sender_assurance != SENDER_ASSURANCE_CLAIMED
    ]


async def customer_history(turn: TurnContext) -> dict[str, Any]:
    history = provable_history(turn, await turn.load_history())
    messages = [m for m in history if not _is_current(turn, m)][-HISTORY_SHOWN:]
    current = turn.channel_name
    listed = [
        {
            "date": _date(m.create_time),
            "channel": channels.BY_VALUE.get(m.channel, "unknown"),
            "from": "customer" if m.direction == conv_pb.MESSAGE_DIRECTION_INBOUND else "support",
            "subject": m.subject,
            "text": m.content[:400],
        }
        for m in messages
    ]
    other_channel = [
        item for item in listed
        if item["from"] == "customer" and item["channel"] != current
    ]
    return {
        "current_channel": current,
        # False: nobody proved this sender owns the address, so only this ticket is shown and
        # nothing earlier may be mentioned.
        "sender_verified": turn.request.sender_verified,
        "messages": listed,
        "earlier_contact_on_other_channels": other_channel[-3:],
    }


async def ensure_ticket(turn: TurnContext) -> dict[str, Any]:
    """The ticket exists (the worker records it before Respond; a direct caller may not have),
    and it is marked as being worked on. No call when the worker's RecordInbound moved it to
    processing already (`ticket_processing`). Otherwise one call in the usual case: the move
    to processing itself says whether the ticket exists (NOT_FOUND) or is already escalated or
    resolved (FAILED_PRECONDITION; it stays as it is)."""
    if turn.request.ticket_processing:
        return {"ticket_id": turn.request.ticket_id, "status": "processing"}
    try:
        ticket = await _mark_processing(turn, turn.request.ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
        recorded = await turn.conversation.RecordInbound(
            conv_pb.RecordInboundRequest(
                customer_id=turn.request.customer_id,
                channel=turn.request.channel,
                # Stable per message, so a retried Respond does not record it twice.
                idempotency_key=f"agent:{turn.request.ticket_id}:{turn.request.message_id}",
                # A one-time code is never stored (services.common.link_codes).
                content=link_codes.redact(turn.request.message) or "(empty message)",
                subject=turn.request.subject,
                sender_name=turn.request.customer_name,
                requested_ticket_id=turn.request.ticket_id,
                sender_assurance=SENDER_ASSURANCE_VERIFIED
                if turn.request.sender_verified else SENDER_ASSURANCE_CLAIMED,
            )
        )
        ticket = await _mark_processing(turn, recorded.ticket_id)
    return {
        "ticket_id": ticket.ticket_id,
        "status": conv_pb.TicketStatus.Name(ticket.status).removeprefix("TICKET_STATUS_").lower(),
    }


async def _mark_processing(turn: TurnContext, ticket_id: str) -> conv_pb.Ticket:
    """open → processing; a ticket already processing is returned as it is, and so is one
    already escalated or resolved (which the state machine keeps from moving back)."""
    try:
        return (await turn.conversation.UpdateTicketStatus(
            conv_pb.UpdateTicketStatusRequest(
                ticket_id=ticket_id,
                status=conv_pb.TICKET_STATUS_PROCESSING,
                note="the AI assistant is answering",
            )
        )).ticket
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return (await turn.conversation.GetTicket(conv_pb.GetTicketRequest(ticket_id=ticket_id))).ticket


async def escalate(turn: TurnContext, reason: int, note: str) -> dict[str, Any]:
    reply = await turn.conversation.Escalate(
        conv_pb.EscalateRequest(ticket_id=turn.request.ticket_id, reason=reason, note=note[:1000])
    )
    if turn.escalation is None:
        turn.escalation = (reason, note)
    # A handover acknowledges earlier contact on another channel the way an answer does, from
    # what is provably this sender's (nothing for a sender who only claimed the address).
    ack = ""
    if turn.request.sender_verified:
        seen = await customer_history(turn)
        ack = handover.acknowledgement(seen["earlier_contact_on_other_channels"])
    return {
        "escalated": True,
        "escalation_id": reply.escalation.escalation_id,
        "handover_message": handover.message(
            reason, turn.request.message, ack=ack, **handover.due_of(reply.escalation)),
        "first_reply": handover.first_reply(**handover.due_of(reply.escalation)),
    }


async def run_recorded(turn: TurnContext, name: str, arguments: dict[str, Any], call) -> Any:
    """Runs one tool implementation, recording it; failures are recorded and re-raised."""
    started = time.monotonic()
    order = turn.call_started()
    try:
        result = await call
    except Exception as err:
        turn.record(name, arguments, False, order)
        # The SDK hands the model an error text and goes on; the reply is retried as a whole
        # afterwards (agent.py), so no answer is built on a half-failed turn.
        turn.tool_errors.append(err)
        log.warning("tool %s failed after %.0f ms", name, (time.monotonic() - started) * 1000)
        raise
    turn.record(name, arguments, True, order)
    return result


# --- the SDK tools ------------------------------------------------------------------------

Reason = Literal["pricing", "refund", "legal", "anger", "human_request", "search_failed", "other"]


@function_tool
async def search_knowledge_base(ctx: RunContextWrapper[TurnContext], query: str) -> str:
    """Search the Flowboard knowledge base (hybrid: meaning and exact words).

    Returns up to 3 relevant articles with their full text, or relevant=false when nothing in
    the knowledge base matches. Only facts from these articles may be stated to the customer.

    Args:
        query: The customer's question or its key words, in English.
    """
    turn = ctx.context
    result = await run_recorded(turn, "search_knowledge_base", {"query": query},
                                search(turn, query))
    return json.dumps(result, ensure_ascii=False)


@function_tool
async def get_customer_history(ctx: RunContextWrapper[TurnContext]) -> str:
    """The customer's recent messages on every channel (email, WhatsApp, web form), oldest
    first, without the message being answered. Use it to acknowledge earlier contact,
    especially on another channel."""
    turn = ctx.context
    result = await run_recorded(turn, "get_customer_history", {}, customer_history(turn))
    return json.dumps(result, ensure_ascii=False)


@function_tool
async def create_ticket(ctx: RunContextWrapper[TurnContext]) -> str:
    """Make sure the support ticket for this message exists and is marked as being worked on.
    Call it once, before answering."""
    turn = ctx.context
    result = await run_recorded(turn, "create_ticket", {}, ensure_ticket(turn))
    return json.dumps(result)


@function_tool
async def escalate_to_human(ctx: RunContextWrapper[TurnContext], reason: Reason, note: str) -> str:
    """Hand the conversation to the human support team. Afterwards, send the returned
    handover_message (or a short, kind message like it) with send_response.

    Args:
        reason: Why: pricing, refund, legal, anger, human_request, search_failed or other.
        note: One or two sentences for the human team about what the customer needs.
    """
    turn = ctx.context
    result = await run_recorded(turn, "escalate_to_human", {"reason": reason, "note": note},
                                escalate(turn, REASONS[reason], note))
    return json.dumps(result, ensure_ascii=False)


@function_tool
async def send_response(
    ctx: RunContextWrapper[TurnContext], message: str, article_ids: list[str]
) -> str:
    """Send the final reply to the customer. This ends the turn. Write only the body: the
    greeting and signature for the channel are added automatically.

    Args:
        message: The reply body, grounded only in knowledge-base articles.
        article_ids: IDs of the articles the reply is based on (empty for a handover).
    """
    turn = ctx.context
    turn.record("send_response", {"article_ids": article_ids}, True)
    turn.final_text = message.strip()
    turn.used_article_ids = [a for a in article_ids if a in turn.relevant_article_ids]
    return turn.final_text


@function_tool
async def request_account_link(ctx: RunContextWrapper[TurnContext], address: str) -> str:
    """The customer says another email address or phone number is theirs too and wants it
    linked ("this is me, ada@example.com"). Sends a one-time code to that address over its own
    channel; the customer must send the code back here. Then send the returned reply.

    Args:
        address: The email address or phone number exactly as the customer wrote it.
    """
    turn = ctx.context
    kind = "email" if "@" in address else "phone"
    # The address is personal data: the record says only what kind it was.
    result = await run_recorded(turn, "request_account_link", {"kind": kind},
                                linking.start(turn, address))
    return json.dumps(result, ensure_ascii=False)


@function_tool
async def confirm_account_link(ctx: RunContextWrapper[TurnContext]) -> str:
    """The customer's message is a one-time code (shown to you as "[one-time code]") for an
    account link they asked for. Checks it; then send the returned reply."""
    turn = ctx.context
    result = await run_recorded(turn, "confirm_account_link", {}, linking.confirm(turn))
    return json.dumps(result, ensure_ascii=False)


ALL_TOOLS = [search_knowledge_base, get_customer_history, create_ticket, escalate_to_human,
             send_response, request_account_link, confirm_account_link]
