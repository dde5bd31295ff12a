"""The operator inbox's HTTP API (`/inbox/api/…`): the escalation queue per team, one escalation
with the customer's cross-channel history, claim, reply, resolve, reopen.

Every route calls `fte.handoff.v1.HandoffService` *as the operator* (`as_caller`): the
conversation process checks the person's role and audits each action; the edge only checks the
credential first (`require_role`: viewer for reads, agent for actions) so a refusal costs no
gRPC call. The answers are small, stable JSON shapes (the models below, documented in
/openapi.json), not protobuf's JSON mapping: the browser app and its tests read them.
"""

from __future__ import annotations

import json
import uuid
from datetime import timezone
from typing import Any, Literal

import grpc
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fte.conversation.v1 import conversation_service_pb2 as conv_pb
from fte.handoff.v1 import handoff_service_pb2 as ho_pb
from fte.handoff.v1 import handoff_service_pb2_grpc as ho_grpc
from pydantic import BaseModel, Field

from services.common import channels as channel_names
from services.common.auth import AGENT, VIEWER
from services.common.teams import TEAMS
from services.edge.auth import as_caller, require_role
from services.edge.settings import EdgeSettings

State = Literal["open", "claimed", "resolved"]
Reason = Literal["pricing", "refund", "legal", "anger", "human_request", "search_failed",
                 "processing_error", "other"]

_STATES: dict[str, int] = {"open": ho_pb.ESCALATION_STATE_OPEN, "claimed": ho_pb.ESCALATION_STATE_CLAIMED,
                           "resolved": ho_pb.ESCALATION_STATE_RESOLVED}
_STATE_NAMES = {v: k for k, v in _STATES.items()}


def _enum_names(enum, prefix: str) -> dict[int, str]:
    return {v.number: v.name.removeprefix(prefix).lower() for v in enum.DESCRIPTOR.values if v.number}


_REASON_NAMES = _enum_names(conv_pb.EscalationReason, "ESCALATION_REASON_")
_REASONS = {name: number for number, name in _REASON_NAMES.items()}
_ROLE_NAMES = _enum_names(conv_pb.MessageRole, "MESSAGE_ROLE_")
_DIRECTION_NAMES = _enum_names(conv_pb.MessageDirection, "MESSAGE_DIRECTION_")
_DELIVERY_NAMES = _enum_names(conv_pb.DeliveryStatus, "DELIVERY_STATUS_")
assert set(_REASONS) == set(Reason.__args__), "Reason must list every EscalationReason"


class Operator(BaseModel):
    subject: str = Field(description="the principal, e.g. `api-key:<id>` or `oidc:<sub>`")
    display_name: str


class OidcSignIn(BaseModel):
    """The identity provider the inbox signs people in with (authorization code + PKCE)."""

    issuer: str
    client_id: str
    scope: str
    token: str = Field(description="which token of the provider's answer to send: id_token or access_token")


class InboxConfig(BaseModel):
    oidc: OidcSignIn | None = Field(description="null: sign in with an API key (or a pasted token) only")
    teams: list[str] = Field(description="the teams escalations are routed to (teams.toml): the queue's team filter")


class Me(BaseModel):
    """Who the credential belongs to: the inbox's sign-in check."""

    subject: str
    display_name: str
    role: str = Field(description="viewer, agent or admin; agent and admin may act on escalations")


class Escalation(BaseModel):
    """One escalation as the queue shows it. Times are ISO 8601 (UTC) or null."""

    escalation_id: str
    ticket_id: str
    conversation_id: str
    customer_id: str
    customer_name: str
    channel: str = Field(description="where the customer wrote, and where a reply goes: email, whatsapp, web_form")
    reason: str = Field(description="pricing, refund, legal, anger, human_request, search_failed, processing_error, other")
    team: str
    note: str = Field(description="the agent's note for the people taking over")
    state: str = Field(description="open, claimed or resolved")
    owner: Operator | None
    subject: str
    created_at: str | None
    reply_due_at: str | None = Field(description="when the first human reply is due (business hours)")
    first_reply_at: str | None
    breached: bool = Field(description="the first reply came, or is still missing, after reply_due_at")
    resolved_at: str | None
    resolution_note: str


class EscalationPage(BaseModel):
    escalations: list[Escalation] = Field(description="oldest first")
    next_page_token: str = Field(description="pass as page_token for the next page; empty on the last")


class HistoryMessage(BaseModel):
    message_id: str
    ticket_id: str
    channel: str
    direction: str = Field(description="inbound (from the customer) or outbound")
    role: str = Field(description="customer, agent, human or system")
    content: str
    subject: str
    time: str | None
    delivery_status: str = Field(description="outbound only: pending, sent, delivered, failed; empty otherwise")


class EscalationDetail(BaseModel):
    escalation: Escalation
    emails: list[str] = Field(description="the customer's verified email addresses")
    phones: list[str] = Field(description="the customer's verified phone / WhatsApp numbers")
    messages: list[HistoryMessage] = Field(description="the customer's recent messages on every channel, oldest first")
    context: dict[str, Any] = Field(description="what was stored when it was raised")


class ReplyRequest(BaseModel):
    content: str = Field(min_length=1, max_length=10000, description="the message to the customer")
    idempotency_key: str = Field(min_length=1, max_length=200, description="the same for every retry of one reply")


class ReplyResult(BaseModel):
    message_id: str
    duplicate: bool = Field(description="this idempotency key was used before: nothing new was sent")
    escalation: Escalation


class NoteRequest(BaseModel):
    note: str = Field(default="", max_length=2000)


class ClaimResult(BaseModel):
    escalation: Escalation
    already_claimed: bool


class ResolveResult(BaseModel):
    escalation: Escalation
    already_resolved: bool


class ReopenResult(BaseModel):
    escalation: Escalation


def _iso(ts) -> str | None:
    return ts.ToDatetime(tzinfo=timezone.utc).isoformat() if ts.seconds or ts.nanos else None


def _escalation(e: ho_pb.QueuedEscalation) -> Escalation:
    return Escalation(
        escalation_id=e.escalation_id, ticket_id=e.ticket_id, conversation_id=e.conversation_id,
        customer_id=e.customer_id, customer_name=e.customer_name,
        channel=channel_names.BY_VALUE.get(e.channel, "unknown"),
        reason=_REASON_NAMES.get(e.reason, "other"), team=e.team, note=e.note,
        state=_STATE_NAMES.get(e.state, "open"),
        owner=Operator(subject=e.owner.subject, display_name=e.owner.display_name) if e.owner.subject else None,
        subject=e.subject, created_at=_iso(e.create_time), reply_due_at=_iso(e.reply_due_time),
        first_reply_at=_iso(e.first_reply_time), breached=e.breached, resolved_at=_iso(e.resolve_time),
        resolution_note=e.resolution_note,
    )


def _message(m: conv_pb.Message) -> HistoryMessage:
    return HistoryMessage(
        message_id=m.message_id, ticket_id=m.ticket_id, channel=channel_names.BY_VALUE.get(m.channel, "unknown"),
        direction=_DIRECTION_NAMES.get(m.direction, "inbound"), role=_ROLE_NAMES.get(m.role, "system"),
        content=m.content, subject=m.subject, time=_iso(m.create_time),
        delivery_status=_DELIVERY_NAMES.get(m.delivery_status, ""),
    )


def _context(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def create_inbox_router(grpc_to_http, settings: EdgeSettings) -> APIRouter:
    """The routes; `grpc_to_http` maps a gRPC error to the edge's HTTP answer (app.py's)."""
    router = APIRouter(prefix="/inbox/api", tags=["inbox"])

    # Open: the sign-in page needs it before anyone has a credential. It holds only what the
    # provider's own discovery document and login page show anyway (issuer, public client id).
    @router.get("/config", response_model=InboxConfig)
    async def inbox_config() -> InboxConfig:
        teams = sorted(TEAMS.emails)
        if not (settings.inbox_oidc_issuer and settings.inbox_oidc_client_id):
            return InboxConfig(oidc=None, teams=teams)
        return InboxConfig(teams=teams, oidc=OidcSignIn(
            issuer=settings.inbox_oidc_issuer, client_id=settings.inbox_oidc_client_id,
            scope=settings.inbox_oidc_scope, token=settings.inbox_oidc_token))

    # The role is also in the OpenAPI document (`x-min-role`): the credential test reads it.
    reads = dict(dependencies=[Depends(require_role(VIEWER))], openapi_extra={"x-min-role": VIEWER})
    acts = dict(dependencies=[Depends(require_role(AGENT))], openapi_extra={"x-min-role": AGENT})

    def stub(request: Request) -> ho_grpc.HandoffServiceStub:
        return ho_grpc.HandoffServiceStub(request.app.state.clients.conversation_channel)

    async def call(request: Request, method: str, message):
        try:
            return await getattr(stub(request), method)(message, metadata=as_caller(request))
        except grpc.aio.AioRpcError as err:
            raise grpc_to_http(err) from err

    @router.get("/me", response_model=Me, **reads)
    async def who_am_i(request: Request) -> Me:
        principal = request.state.principal
        return Me(subject=principal.subject, display_name=principal.display_name, role=principal.role)

    @router.get("/escalations", response_model=EscalationPage, **reads)
    async def list_escalations(
        request: Request,
        state: list[State] = Query(default=[], description="repeat for several; none: open and claimed"),
        team: str = Query(default="", max_length=100),
        reason: Reason | None = Query(default=None),
        page_size: int = Query(default=50, ge=1, le=200),
        page_token: str = Query(default="", max_length=1000),
    ) -> EscalationPage:
        reply = await call(request, "ListEscalations", ho_pb.ListEscalationsRequest(
            states=[_STATES[s] for s in dict.fromkeys(state)], team=team.strip(),
            reason=_REASONS[reason] if reason else 0, page_size=page_size, page_token=page_token,
        ))
        return EscalationPage(escalations=[_escalation(e) for e in reply.escalations],
                              next_page_token=reply.next_page_token)

    @router.get("/escalations/{escalation_id}", response_model=EscalationDetail, **reads)
    async def get_escalation(escalation_id: uuid.UUID, request: Request) -> EscalationDetail:
        reply = await call(request, "GetEscalation", ho_pb.GetEscalationRequest(escalation_id=str(escalation_id)))
        return EscalationDetail(
            escalation=_escalation(reply.escalation), emails=list(reply.emails), phones=list(reply.phones),
            messages=[_message(m) for m in reply.messages], context=_context(reply.context_json),
        )

    @router.post("/escalations/{escalation_id}/claim", response_model=ClaimResult, **acts)
    async def claim_escalation(escalation_id: uuid.UUID, request: Request) -> ClaimResult:
        reply = await call(request, "ClaimEscalation", ho_pb.ClaimEscalationRequest(escalation_id=str(escalation_id)))
        return ClaimResult(escalation=_escalation(reply.escalation), already_claimed=reply.already_claimed)

    @router.post("/escalations/{escalation_id}/reply", response_model=ReplyResult, **acts)
    async def reply_to_customer(escalation_id: uuid.UUID, body: ReplyRequest, request: Request) -> ReplyResult:
        if not body.content.strip():
            raise HTTPException(400, "content: write something to send")
        reply = await call(request, "ReplyToCustomer", ho_pb.ReplyToCustomerRequest(
            escalation_id=str(escalation_id), content=body.content, idempotency_key=body.idempotency_key))
        return ReplyResult(message_id=reply.message_id, duplicate=reply.duplicate,
                           escalation=_escalation(reply.escalation))

    @router.post("/escalations/{escalation_id}/resolve", response_model=ResolveResult, **acts)
    async def resolve_escalation(
        escalation_id: uuid.UUID, request: Request, body: NoteRequest | None = None
    ) -> ResolveResult:
        reply = await call(request, "ResolveEscalation", ho_pb.ResolveEscalationRequest(
            escalation_id=str(escalation_id), note=(body or NoteRequest()).note))
        return ResolveResult(escalation=_escalation(reply.escalation), already_resolved=reply.already_resolved)

    @router.post("/escalations/{escalation_id}/reopen", response_model=ReopenResult, **acts)
    async def reopen_escalation(
        escalation_id: uuid.UUID, request: Request, body: NoteRequest | None = None
    ) -> ReopenResult:
        reply = await call(request, "ReopenEscalation", ho_pb.ReopenEscalationRequest(
            escalation_id=str(escalation_id), note=(body or NoteRequest()).note))
        return ReopenResult(escalation=_escalation(reply.escalation))

    return router
